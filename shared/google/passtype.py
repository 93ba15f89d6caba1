"""The Google side of a pass type: `config/tenants/<t>/passtypes/<p>/google/`, loaded once.

The folder holds two Liquid templates, rendered by the engine of the Apple side
(shared/apple/templates.py: same JSON escaping rules, same strict handling of missing data):

- `class.json`, the Google class: one resource at Google shared by every pass of the type.
  It holds fixed text only and may read no data (a reference is refused at load): pass data
  has no place in a shared resource, and a class that depends on nothing is rendered and
  checked once, at load.
- `object.json`, one pass's object, rendered from the same context as the Apple template
  (`pass.id`, `pass.status`, `pass.identifiers.*`, `pass.metadata.*`, `pass.additionalData.*`,
  `external.*`, `now`), limited to the data passtype.toml declares.

Templates are parsed, and their outputs compiled (shared/apple/template_compiler.py), once
when the pass type loads; per pass only the data changes. Both are check-rendered at load
(the object with the declared sample values), and their output is validated against
Google's reference (shared/google/object_json.py). passwire
sets what it owns: the class's `id` and `callbackOptions`, the object's `id`, `classId`,
its `state` when the pass is no longer active, and the end of its validity on expiration.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shared.apple.pass_json import compact_text, parse_json_value
from shared.apple.passtype import DeclaredData, _reference_problem, sample_context
from shared.apple.templates import (
    JsonTemplate,
    Reference,
    TemplateRenderError,
    TemplateSyntaxError,
    parse_template,
    referenced_variables,
    unknown_filters,
)
from shared.google.issuers import ISSUER_ID_PATTERN
from shared.google.object_json import (
    CLASS_KEYS,
    GOOGLE_KINDS,
    Problems,
    validate_class,
    validate_object,
)
from shared.infra.ids import PASS_ID_PATTERN

GOOGLE_FOLDER = "google"
CLASS_TEMPLATE = "class.json"
OBJECT_TEMPLATE = "object.json"
# The Google kind a pass type gets from its `kind` unless [google] kind says otherwise.
DEFAULT_GOOGLE_KIND = {
    "loyalty": "loyalty",
    "membership": "loyalty",
    "coupon": "offer",
    "giftCard": "giftCard",
    "eventTicket": "eventTicket",
    "generic": "generic",
    "boardingPass": "generic",
}
# Google: "alphanumeric characters, '.', '_', or '-'" after "<issuer id>.".
RESOURCE_SUFFIX_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")  # use with fullmatch
# Pass status -> object state, for passes no longer active.
_STATES = {
    "active": "ACTIVE",
    "redeemed": "COMPLETED",
    "expired": "EXPIRED",
    "blocked": "INACTIVE",
    "voided": "INACTIVE",
}


class GooglePassTypeError(ValueError):
    """The google/ folder of a pass type is invalid; `problems` lists "file:line: reason"."""

    def __init__(self, directory: Path, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{directory}: invalid Google pass type:\n{listing}")


class GoogleRenderError(ValueError):
    """A pass's data did not render to a valid Google object; `problems` lists the reasons
    (file and field, never the rendered values: they hold personal data)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Google object cannot be rendered: " + "; ".join(problems))


@dataclass(frozen=True, eq=False)
class GooglePassType:
    """A loaded, validated Google pass type; immutable and shared by all threads."""

    issuer_id: str
    kind: str  # one of GOOGLE_KINDS
    class_id: str  # "<issuer id>.<suffix>"
    class_template: JsonTemplate = field(repr=False)
    object_template: JsonTemplate = field(repr=False)
    # The class template's output, rendered once at load (it reads no data).
    class_fields: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _at(name: str, line: int | None) -> str:
    return f"{name}:{line}" if line else name


def _line_of_field(source: str, path: str, reason: str) -> int | None:
    """The template line of the key a problem is about, when the template names that key
    exactly once (a missing key: its parent's line); None when that cannot be told."""
    keys = [part for part in path.split(".") if part and not part.isdigit()]
    if reason == "is required":
        keys = keys[:-1]  # the key is missing: point at the object that lacks it
    if not keys:
        return None
    quoted = f'"{keys[-1]}"'
    if source.count(quoted) != 1:
        return None
    return source.count("\n", 0, source.index(quoted)) + 1


def _render_checked(
    template: JsonTemplate,
    context: Mapping[str, Any],
    validate: Callable[[dict[str, Any]], Problems],
    *,
    show_output: bool,
) -> tuple[dict[str, Any] | None, list[str]]:
    """Render, parse and validate: (document, []) or (None or the document, problems).
    Rendered text is quoted only if show_output (sample data): real passes hold personal data."""
    name = template.name
    try:
        text = template.render(context)
    except TemplateRenderError as exc:
        return None, [f"{_at(name, exc.line)}: {exc}"]
    try:
        doc = parse_json_value(text)
    except ValueError as exc:
        reason = f"rendered output is not valid JSON: {exc}"
        lineno = getattr(exc, "lineno", None)
        if show_output and lineno is not None:
            reason += f"; output line {lineno}: {text.splitlines()[lineno - 1].strip()!r}"
        return None, [f"{name}: {reason}"]
    if not isinstance(doc, dict):
        return None, [f"{name}: rendered output is not a JSON object"]
    problems = [
        f"{_at(name, _line_of_field(template.source, path, reason))}: {path}: {reason}"
        for path, reason in validate(doc)
    ]
    return doc, problems


def _parse(path: Path, name: str) -> tuple[JsonTemplate | None, list[str]]:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [f"{name}: is required"]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{name}: cannot be read as UTF-8: {exc}"]
    try:
        return parse_template(source, name), []
    except TemplateSyntaxError as exc:
        return None, [f"{_at(name, exc.line)}: syntax error: {exc}"]


def _static_problems(
    template: JsonTemplate, reference_problem: Callable[[Reference], str | None]
) -> list[str]:
    """References the template may not make and filters that do not exist."""
    name = template.name
    problems = [
        f"{name}:{ref.line}: {reason}"
        for ref in referenced_variables(template)
        if (reason := reference_problem(ref)) is not None
    ]
    problems.extend(
        f"{name}:{line}: unknown filter {filter_name!r}"
        for filter_name, line in unknown_filters(template)
    )
    return problems


def _class_reference_problem(ref: Reference) -> str:
    return (
        f"references {ref.text}; the class is shared by every pass of the type, so it holds "
        "fixed text only (put pass data in object.json)"
    )


def _setting_problems(issuer_id: str, kind: str, class_suffix: str) -> list[str]:
    problems = []
    if not ISSUER_ID_PATTERN.fullmatch(issuer_id):
        problems.append(f"passtype.toml: google.issuer_id: {issuer_id!r} is not 1-25 digits")
    if kind not in GOOGLE_KINDS:
        problems.append(f"passtype.toml: google.kind: must be one of {', '.join(GOOGLE_KINDS)}")
    if not RESOURCE_SUFFIX_PATTERN.fullmatch(class_suffix):
        problems.append(
            f"passtype.toml: google.class_suffix: {class_suffix!r} must be 1-100 letters, "
            "digits, '.', '_' or '-'"
        )
    return problems


def load_google_pass_type(
    directory: Path,
    declared: DeclaredData,
    *,
    tenant_id: str,
    pass_type_id: str,
    issuer_id: str,
    kind: str,
    class_suffix: str | None = None,
) -> GooglePassType:
    """Load and check the `google/` folder of the pass type folder `directory`. Raises
    GooglePassTypeError listing every problem, files relative to `directory`
    ("google/object.json:12: barcode.type: ...")."""
    suffix = class_suffix if class_suffix is not None else f"{tenant_id}-{pass_type_id}"
    problems = _setting_problems(issuer_id, kind, suffix)
    if problems:
        raise GooglePassTypeError(directory, problems)
    folder = directory / GOOGLE_FOLDER
    if not folder.is_dir():
        raise GooglePassTypeError(directory, [f"{GOOGLE_FOLDER}: folder is missing"])
    problems.extend(
        f"{GOOGLE_FOLDER}/{path.name}: unexpected file; expected {CLASS_TEMPLATE} and "
        f"{OBJECT_TEMPLATE}"
        for path in sorted(folder.iterdir())
        if not path.name.startswith(".") and path.name not in (CLASS_TEMPLATE, OBJECT_TEMPLATE)
    )
    class_template, found = _parse(folder / CLASS_TEMPLATE, f"{GOOGLE_FOLDER}/{CLASS_TEMPLATE}")
    problems.extend(found)
    object_template, found = _parse(folder / OBJECT_TEMPLATE, f"{GOOGLE_FOLDER}/{OBJECT_TEMPLATE}")
    problems.extend(found)
    class_fields: dict[str, Any] | None = None
    if class_template is not None:
        found = _static_problems(class_template, _class_reference_problem)
        if not found:  # else the check render would only repeat them as undefined values
            class_fields, found = _render_checked(
                class_template, {}, lambda doc: validate_class(doc, kind), show_output=True
            )
        problems.extend(found)
    if object_template is not None:
        found = _static_problems(object_template, lambda ref: _reference_problem(ref, declared))
        if not found:
            _, found = _render_checked(
                object_template,
                sample_context(declared, pass_type_id),
                lambda doc: validate_object(doc, kind),
                show_output=True,
            )
        problems.extend(found)
    if problems or class_template is None or object_template is None or class_fields is None:
        raise GooglePassTypeError(directory, problems)
    return GooglePassType(
        issuer_id=issuer_id,
        kind=kind,
        class_id=f"{issuer_id}.{suffix}",
        class_template=class_template,
        object_template=object_template,
        class_fields=MappingProxyType(class_fields),
    )


def google_state(status: str) -> str:
    """The object state for a pass status: redeemed -> COMPLETED, expired -> EXPIRED,
    blocked and voided -> INACTIVE, active -> ACTIVE."""
    try:
        return _STATES[status]
    except KeyError:
        raise ValueError(f"unknown pass status {status!r}") from None


def object_id_for(issuer_id: str, pass_id: str) -> str:
    """The Google object id of a pass: "<issuer id>.<pass id>"."""
    if not ISSUER_ID_PATTERN.fullmatch(issuer_id):
        raise ValueError(f"issuer id {issuer_id!r} is not 1-25 digits")
    if not PASS_ID_PATTERN.fullmatch(pass_id):
        raise ValueError(f"pass id {pass_id!r} does not match {PASS_ID_PATTERN.pattern}")
    return f"{issuer_id}.{pass_id}"


def render_google_class(pass_type: GooglePassType, *, callback_url: str) -> dict[str, Any]:
    """The class resource to send to Google. Google calls `callback_url` (it must be https
    there) when a user saves or deletes a pass. reviewStatus is UNDER_REVIEW unless the
    template sets it (generic classes have none)."""
    doc = copy.deepcopy(dict(pass_type.class_fields))
    if "reviewStatus" in CLASS_KEYS[pass_type.kind]:
        doc.setdefault("reviewStatus", "UNDER_REVIEW")
    doc["id"] = pass_type.class_id
    doc["callbackOptions"] = {"url": callback_url}
    return doc


def render_google_object(
    pass_type: GooglePassType,
    context: Mapping[str, Any],
    *,
    object_id: str,
    status: str = "active",
    expiration: datetime | None = None,
) -> dict[str, Any]:
    """The object resource for one pass, from a render context (build_render_context).

    `state` is the template's (ACTIVE when it sets none) while the pass is active, else
    google_state(status). `expiration` ends validTimeInterval (a naive datetime is taken as
    UTC, as passwire stores times). Raises GoogleRenderError if the data does not render to
    a valid object."""
    state = google_state(status)
    prefix = f"{pass_type.issuer_id}."
    suffix = object_id.removeprefix(prefix)
    if suffix == object_id or not RESOURCE_SUFFIX_PATTERN.fullmatch(suffix):
        raise ValueError(f"object id {object_id!r} is not '{prefix}<id>' (see object_id_for)")
    if expiration is not None and expiration.utcoffset() is None:
        expiration = expiration.replace(tzinfo=UTC)
    doc, problems = _render_checked(
        pass_type.object_template,
        context,
        lambda rendered: validate_object(rendered, pass_type.kind),
        show_output=False,
    )
    if problems or doc is None:
        raise GoogleRenderError(problems)
    if status != "active":
        doc["state"] = state
    doc.setdefault("state", "ACTIVE")
    if expiration is not None:
        interval = doc.setdefault("validTimeInterval", {})
        interval["end"] = {"date": expiration.isoformat()}
    doc["id"] = object_id
    doc["classId"] = pass_type.class_id
    return doc


def content_hash(resource: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a class or object as canonical JSON (sorted keys, compact), so an
    update can tell that nothing changed."""
    return hashlib.sha256(compact_text(resource).encode("utf-8")).hexdigest()
