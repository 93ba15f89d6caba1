"""The Apple side of a pass type: `config/tenants/<t>/passtypes/<p>/apple/`, loaded once.

The folder holds `pass.json` (a Liquid template, see shared/apple/templates.py), Wallet's
images and `<language>.lproj/pass.strings` files. Loading checks everything and reports every
problem at once, each as "path: reason", so a tenant fixes a template in one round trip.

The data a template may read is declared in passtype.toml:

    [data]
    identifiers = ["crm"]
    metadata = ["store", "tier"]
    additionalData = ["points"]
    external = ["firstName"]

    [data.sample.additionalData]   # optional: values for the check render at load time
    points = 120

The render context is `pass.id`, `pass.passType`, `pass.status`, `pass.expirationDate` (absent
when the pass has none: write it with `| default:` or inside `{% if %}`), `pass.balance` (the
amount passwire keeps for the pass, in minor units for money, 0 when never set),
`pass.identifiers.<name>`, `pass.metadata.<name>`, `pass.additionalData.<name>`,
`external.<name>`, `now` and (Apple only) `message.text`, the newest message's key
(shared/apple/messages.py). A template referencing anything else fails to load.

Rendering a pass: a template made only of JSON text and `{{ }}` outputs is checked once at
load time and, per pass, only its outputs are evaluated and checked (`PrecheckedTemplate`),
which also gives the pass's barcode messages without parsing what it wrote;
any other template, and any pass the shortcut is not sure of, takes the full path: render,
parse, validate, serialise.
"""

from __future__ import annotations

import dataclasses
import operator
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shared.apple import messages as apple_messages
from shared.apple.barcodes import barcode_messages, distinct_messages
from shared.apple.image_choices import (
    IMAGE_SET_FOLDER,
    ImageChoiceError,
    ImageChoices,
    chosen_slot_problems,
    declared_slots,
    parse_image_choices,
    read_image_set,
)
from shared.apple.images import REQUIRED_IMAGE, image_problems, parse_image_name, style_problems
from shared.apple.manifest import PASS_JSON_NAME
from shared.apple.package import PassTypeAssets
from shared.apple.pass_json import (
    ANY_STRING_CHECKS,
    FIELD_GROUPS,
    compact_text,
    dotted_path,
    isolated_check,
    parse_json_value,
    parse_pass_json,
    serialise,
    styles_in,
    validate_pass_json,
)
from shared.apple.strings import (
    LPROJ_PATTERN,
    STRINGS_NAME,
    StringsError,
    decode_strings,
    parse_strings_text,
    to_utf16,
)
from shared.apple.templates import (
    JsonTemplate,
    Reference,
    TemplateRenderError,
    TemplateSyntaxError,
    TextAndOutputs,
    escape_string_body,
    parse_template,
    referenced_variables,
    split_at_outputs,
    unknown_filters,
)

# Context groups holding named values, as written in templates and in the [data] table.
PASS_GROUPS = ("identifiers", "metadata", "additionalData")
GROUPS = (*PASS_GROUPS, "external")
PASS_SCALARS = ("id", "passType", "status", "expirationDate", "balance")
APPLE_FOLDER = "apple"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
MIN_AUTHENTICATION_TOKEN = 16  # Apple: "at least 16 characters"
SAMPLE_NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)  # fixed, so load checks are repeatable
SAMPLE_BALANCE = 1250
SAMPLE_MESSAGE = apple_messages.PassMessage(id="SAMPLE", content="sample message")
MESSAGE_VARIABLE = f"{apple_messages.TEMPLATE_VARIABLE}.text"  # the newest message's key


class DataDeclarationError(ValueError):
    """The [data] table of passtype.toml is invalid; the message lists every problem."""


class ApplePassTypeError(ValueError):
    """The apple/ folder of a pass type is invalid; `problems` lists "path: reason" items."""

    def __init__(self, directory: Path, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{directory}: invalid Apple pass type:\n{listing}")


class PassRenderError(ValueError):
    """A pass's data did not render to a valid pass.json; `problems` lists the reasons."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("pass.json cannot be rendered: " + "; ".join(problems))


@dataclass(frozen=True)
class DeclaredData:
    """Names of the values a pass type's templates may read, per context group."""

    identifiers: tuple[str, ...] = ()
    metadata: tuple[str, ...] = ()
    additional_data: tuple[str, ...] = ()
    external: tuple[str, ...] = ()
    # group -> name -> value for the load-time check render; strings are used otherwise.
    samples: Mapping[str, Mapping[str, object]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def names(self, group: str) -> tuple[str, ...]:
        by_group = {
            "identifiers": self.identifiers,
            "metadata": self.metadata,
            "additionalData": self.additional_data,
            "external": self.external,
        }
        return by_group[group]

    def sample(self, group: str, name: str) -> object:
        return self.samples.get(group, {}).get(name, f"sample {group}.{name}")


def _is_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= 64
        and not value[0].isdigit()
        and not value.startswith("-")
        and set(value) <= _NAME_CHARS
    )


def _parse_names(raw: object, path: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list):
        problems.append(f"{path}: must be an array of names")
        return ()
    names: list[str] = []
    for index, item in enumerate(raw):
        if not _is_name(item):
            problems.append(f"{path}[{index}]: {item!r} is not a name (letters, digits, _ or -)")
        elif item in names:
            problems.append(f"{path}[{index}]: {item!r} is declared twice")
        else:
            names.append(item)
    return tuple(names)


def _parse_samples(
    raw: object, declared: Mapping[str, tuple[str, ...]], problems: list[str]
) -> dict[str, Mapping[str, object]]:
    if not isinstance(raw, dict):
        problems.append("[data].sample: must be a table")
        return {}
    samples: dict[str, Mapping[str, object]] = {}
    for group, values in raw.items():
        path = f"[data].sample.{group}"
        if group not in declared:
            problems.append(f"{path}: unknown group (expected one of {', '.join(GROUPS)})")
        elif not isinstance(values, dict):
            problems.append(f"{path}: must be a table")
        else:
            for name in values:
                if name not in declared[group]:
                    problems.append(f"{path}.{name}: {name} is not declared in [data].{group}")
            samples[group] = MappingProxyType(dict(values))
    return samples


def parse_declared_data(table: object, *, source: str = "passtype.toml") -> DeclaredData:
    """Parse the [data] table (None when absent). Raises DataDeclarationError."""
    if table is None:
        return DeclaredData()
    problems: list[str] = []
    if not isinstance(table, dict):
        raise DataDeclarationError(f"{source}: [data]: must be a table")
    declared = {
        group: _parse_names(table.get(group, []), f"[data].{group}", problems) for group in GROUPS
    }
    samples = _parse_samples(table.get("sample", {}), declared, problems)
    problems.extend(
        f"[data].{key}: unknown key (expected {', '.join(GROUPS)} or sample)"
        for key in table
        if key not in (*GROUPS, "sample")
    )
    if problems:
        raise DataDeclarationError(f"{source}: " + "; ".join(problems))
    return DeclaredData(
        identifiers=declared["identifiers"],
        metadata=declared["metadata"],
        additional_data=declared["additionalData"],
        external=declared["external"],
        samples=MappingProxyType(samples),
    )


def read_declared_data(passtype_toml: Path) -> DeclaredData:
    """The [data] table of a passtype.toml file (tenants.py reads the rest of the file)."""
    try:
        raw = tomllib.loads(passtype_toml.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataDeclarationError(f"{passtype_toml}: cannot read: {exc}") from exc
    return parse_declared_data(raw.get("data"), source=str(passtype_toml))


_Check = Callable[[object], str | None]
_SENTINEL = re.compile("\ue000([0-9]+)\ue001")  # private-use characters around a number
_MARKS = ("\ue000", "\ue001")
# Values render_pass_json sets (pass_json.OWNED_KEYS but formatVersion, always 1, and the
# STATUS_KEYS, which only some passes carry and which take the full path), in the order of
# its arguments.
_OWNED_STRINGS = (
    "serialNumber",
    "authenticationToken",
    "webServiceURL",
    "passTypeIdentifier",
    "teamIdentifier",
)


def _sentinel(index: int) -> str:
    return f"\ue000{index}\ue001"


@dataclass(frozen=True)
class _StringHole:
    """A JSON string the outputs write into: fixed text (str) and output indexes (int)."""

    parts: tuple[str | int, ...]
    check: _Check


@dataclass(frozen=True)
class _ValueHole:
    """An output written where a JSON value goes (`{{ x | json }}`)."""

    output: int
    check: _Check


_Path = tuple[str | int, ...]


def _strings_in(value: object, path: _Path) -> Iterator[tuple[_Path, str, bool]]:
    """(path, string, is a key) for every key and string value in a parsed JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), key, True
            yield from _strings_in(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings_in(item, (*path, index))
    elif isinstance(value, str):
        yield path, value, False


def _is_plain_natural(text: str) -> bool:
    """`text` is a JSON number made only of digits, no leading zero: it parses to int(text)
    and compact_text writes it back unchanged."""
    return text.isascii() and text.isdigit() and (text[0] != "0" or len(text) == 1)


@dataclass(frozen=True)
class RenderedPassJson:
    """A rendered pass.json and, when known without parsing it, its barcode messages
    (shared/apple/barcodes.py), which the pass stores."""

    pass_json: bytes
    barcode_messages: tuple[str, ...] | None = None


def _barcode_parts(
    skeleton: Mapping[str, Any], outputs: TextAndOutputs
) -> tuple[tuple[str | int, ...], ...] | None:
    """Where barcode_messages finds its strings in the skeleton (`barcodes[].message`, then
    `barcode.message`), each as fixed text and output indexes (see _StringHole); None when
    an output writes a whole value there, whose type only the pass's data decides."""

    def is_value_output(value: object) -> bool:
        return isinstance(value, str) and any(
            not outputs.outputs[int(index)].in_string for index in _SENTINEL.findall(value)
        )

    barcodes, barcode = skeleton.get("barcodes"), skeleton.get("barcode")
    entries = list(barcodes) if isinstance(barcodes, list) else []
    if isinstance(barcode, dict):
        entries.append(barcode)
    found: list[tuple[str | int, ...]] = []
    for entry in entries:
        message = entry.get("message") if isinstance(entry, dict) else None
        if is_value_output(entry) or is_value_output(message):
            return None
        if isinstance(message, str):
            split = _SENTINEL.split(message)
            found.append(
                tuple(part if at % 2 == 0 else int(part) for at, part in enumerate(split) if part)
            )
    if (barcodes is not None and not isinstance(barcodes, list)) or is_value_output(barcode):
        return None  # a fixed odd value: leave it to barcode_messages
    return tuple(found)


@dataclass(frozen=True, eq=False)
class PrecheckedTemplate:
    """What can be checked once about a pass.json template, checked once.

    For a template made only of JSON text and `{{ }}` outputs (no tags), everything but the
    output values is the same for every pass: the JSON structure, every key, every fixed
    value. At load time (`learn`) the template is rendered with a marker in place of each
    output and that skeleton is parsed, validated and serialised once. What moved out of the
    per-pass path, and why the guarantees hold:

    - JSON syntax and duplicate keys: the skeleton parses, so the real output does: an output
      inside a string is escaped and cannot leave it; one outside is the json filter's text,
      parsed on its own (duplicate keys refused) and standing where a string stood.
    - Validation: every rule of validate_pass_json reading only fixed values passed on the
      skeleton. Outputs may only sit where `isolated_check` names the one check that reads
      them (a field value, a barcode message...), and per pass exactly those checks run on
      the real values. The skeleton's own problems must be exactly those checks failing on
      the markers, else the template is not prechecked.
    - Style and owned keys: fixed by the skeleton's keys.
    - Serialisation: serialise writes each value on its own in key order, so the output is
      the skeleton's serialisation with each marker replaced by its value's serialisation
      (kept as its fixed pieces, with the markers' order between them: one join per pass).

    Per pass every output is still evaluated (`TextAndOutputs.evaluate`: by the functions
    the template's outputs were compiled to at parse time, else by Liquid). Whenever
    anything is not as expected (an error, a failed check, json text in a string, a value
    that cannot be written) `render` returns None and render_pass_json runs the full path,
    which accepts or refuses exactly as before and reports the same problems."""

    outputs: TextAndOutputs
    strings: tuple[_StringHole, ...]
    values: tuple[_ValueHole, ...]
    # The serialised skeleton cut at its markers: fixed text at the even indexes, a
    # placeholder at the odd ones, where `pick` puts the values in the order they appear
    # (`_layout`). A join, not str.format: a third of the time, nothing to parse per pass.
    pieces: tuple[str, ...]
    pick: Callable[[list[str]], tuple[str, ...]]
    # The barcode message strings, in barcode_messages' order, as fixed text and output
    # indexes; None when an output may write a barcode's structure (a json output).
    barcodes: tuple[tuple[str | int, ...], ...] | None = None

    def render(self, context: Mapping[str, Any], owned: tuple[str, ...]) -> bytes | None:
        """The pass.json bytes, or None to take the full path. `owned`: _OWNED_STRINGS."""
        rendered = self.render_pass(context, owned)
        return None if rendered is None else rendered.pass_json

    def render_pass(
        self, context: Mapping[str, Any], owned: tuple[str, ...]
    ) -> RenderedPassJson | None:
        """`render`, with the barcode messages read off the outputs instead of a parse."""
        written = self.outputs.evaluate(context)
        if written is None:
            return None
        texts, raws = written
        pass_json = self._write(texts, raws, owned)
        if pass_json is None or self.barcodes is None:
            return None if pass_json is None else RenderedPassJson(pass_json, None)
        messages = [
            "".join(part if isinstance(part, str) else raws[part] for part in parts)
            for parts in self.barcodes
        ]
        if len(messages) > 1:
            messages = distinct_messages(messages)
        return RenderedPassJson(pass_json, tuple(messages))

    def _write(self, texts: list[str], raws: list[str], owned: tuple[str, ...]) -> bytes | None:
        """The pass.json from the outputs' texts (changed in place) and raws."""
        try:
            for string in self.strings:  # only those whose check some strings fail
                parts = string.parts
                value = "".join(part if isinstance(part, str) else raws[part] for part in parts)
                if string.check(value) is not None:
                    return None
            for hole in self.values:
                raw = raws[hole.output]
                if _is_plain_natural(raw):  # most json outputs (points...): itself, compact
                    if hole.check(int(raw)) is not None:
                        return None
                    continue
                parsed = parse_json_value(raw)
                if hole.check(parsed) is not None:
                    return None
                texts[hole.output] = compact_text(parsed)
            texts.extend(map(escape_string_body, owned))
            written = list(self.pieces)
            written[1::2] = self.pick(texts)
            return "".join(written).encode("utf-8")
        except Exception:  # NaN, a lone surrogate...: the full path raises as it always did
            return None

    @classmethod
    def learn(
        cls, template: JsonTemplate, style: str, sample: Mapping[str, Any]
    ) -> PrecheckedTemplate | None:
        """The prechecked form of a template that loaded, or None if it has tags or its
        outputs sit where more than one rule reads them. `sample`: a render context the
        full path accepts, to confirm both paths give the same bytes."""
        outputs = split_at_outputs(template)
        if outputs is None or any(mark in text for text in outputs.texts for mark in _MARKS):
            return None
        count = len(outputs.outputs)
        markers = [
            _sentinel(index) if slot.in_string else f'"{_sentinel(index)}"'
            for index, slot in enumerate(outputs.outputs)
        ]
        source = "".join(
            text + marker for text, marker in zip(outputs.texts[:-1], markers, strict=True)
        )
        try:
            skeleton = parse_pass_json(source + outputs.texts[-1])
        except ValueError:
            return None
        holes = cls._holes(skeleton, outputs)
        if holes is None or styles_in(skeleton) != [style]:
            return None
        strings, values, expected = holes
        if sorted(validate_pass_json(skeleton)) != sorted(expected):
            return None
        skeleton.update(formatVersion=1)
        skeleton.update((key, _sentinel(count + index)) for index, key in enumerate(_OWNED_STRINGS))
        layout = cls._layout(compact_text(skeleton), count, {hole.output for hole in values})
        if layout is None:
            return None
        pieces, order = layout
        barcodes = _barcode_parts(skeleton, outputs)
        # At least the owned strings are placed, so itemgetter gives a tuple.
        pick = operator.itemgetter(*order)
        prechecked = cls(outputs, tuple(strings), tuple(values), pieces, pick, barcodes)
        owned = tuple(f'sample {key} {{}}\\"\n' for key in _OWNED_STRINGS)
        doc, problems = _render_document(template, sample, style=style, show_output=False)
        if doc is None or problems:
            return None
        doc.update(formatVersion=1, **dict(zip(_OWNED_STRINGS, owned, strict=True)))
        rendered = prechecked.render_pass(sample, owned)
        if rendered is None or rendered.pass_json != serialise(doc):
            return None
        if barcodes is not None and list(rendered.barcode_messages or ()) != barcode_messages(
            rendered.pass_json
        ):
            return dataclasses.replace(prechecked, barcodes=None)
        return prechecked

    @staticmethod
    def _holes(
        skeleton: dict[str, Any], outputs: TextAndOutputs
    ) -> tuple[list[_StringHole], list[_ValueHole], list[tuple[str, str]]] | None:
        """String and value holes, and the problems their checks find in the markers."""
        strings: list[_StringHole] = []
        values: list[_ValueHole] = []
        expected: list[tuple[str, str]] = []
        seen: list[int] = []
        for path, text, is_key in _strings_in(skeleton, ()):
            if not any(mark in text for mark in _MARKS):
                continue
            check = None if is_key else isolated_check(path)
            split = _SENTINEL.split(text)
            fixed, indexes = split[::2], [int(number) for number in split[1::2]]
            if (
                check is None  # a marker in a key, or where other rules read it
                or any(mark in part for part in fixed for mark in _MARKS)
                or any("\ud800" <= char <= "\udfff" for part in fixed for char in part)
                or any(index >= len(outputs.outputs) for index in indexes)
            ):
                return None
            seen.extend(indexes)
            if any(not outputs.outputs[index].in_string for index in indexes):
                if fixed != ["", ""]:  # a json output is a whole value
                    return None
                values.append(_ValueHole(indexes[0], check))
            else:
                parts = [part for pair in zip(fixed[:-1], indexes, strict=True) for part in pair]
                if check not in ANY_STRING_CHECKS:
                    strings.append(_StringHole((*parts, fixed[-1]), check))
            if (reason := check(text)) is not None:
                expected.append((dotted_path(path), reason))
        if sorted(seen) != list(range(len(outputs.outputs))):
            return None
        return strings, values, expected

    @staticmethod
    def _layout(
        text: str, count: int, value_outputs: set[int]
    ) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
        """The serialised skeleton as (pieces, order): its fixed texts with a placeholder
        ("") between each two, and which value goes in each placeholder: output n (a value
        output's quotes dropped), then the owned values (count, count + 1...)."""
        split = _SENTINEL.split(text)
        fixed, indexes = split[::2], [int(number) for number in split[1::2]]
        if sorted(indexes) != list(range(count + len(_OWNED_STRINGS))):
            return None
        for at, index in enumerate(indexes):
            if index in value_outputs:
                if not (fixed[at].endswith('"') and fixed[at + 1].startswith('"')):
                    return None
                fixed[at], fixed[at + 1] = fixed[at][:-1], fixed[at + 1][1:]
        pieces = [piece for part in fixed for piece in (part, "")][:-1]
        return tuple(pieces), tuple(indexes)


@dataclass(frozen=True, eq=False)
class ApplePassType:
    """A loaded, validated Apple pass type; immutable and shared by all threads."""

    style: str  # storeCard, coupon, eventTicket, generic or boardingPass
    template: JsonTemplate
    files: dict[str, bytes]  # images and lproj files by pass member name
    declared: DeclaredData
    assets: PassTypeAssets  # `files` hashed and zipped once, for build_pkpass
    # The template's per-pass shortcut (PrecheckedTemplate), None for templates with tags.
    prechecked: PrecheckedTemplate | None = field(default=None, repr=False)
    # The same files without their pass.strings, for passes carrying messages: those ship
    # their own strings (the pass type's plus the messages', shared/apple/messages.py).
    message_assets: PassTypeAssets | None = field(default=None, repr=False)
    # The template shows the newest message itself ({{ message.text }}); else passwire adds
    # it as a back field.
    places_message: bool = False
    # Its languages and pass.strings, ready for passes that carry messages.
    type_strings: apple_messages.TypeStrings = field(
        default_factory=lambda: apple_messages.TypeStrings({}, {}), repr=False
    )
    # Images picked per pass ([apple.images], shared/apple/image_choices.py); None: none.
    image_choices: ImageChoices | None = field(default=None, repr=False)
    # Assets per (own strings, chosen images), prepared on first use: few combinations.
    _chosen_assets: dict[tuple[bool, tuple[tuple[str, str], ...]], PassTypeAssets] = field(
        default_factory=dict, repr=False
    )

    def choose_images(self, context: Mapping[str, Any]) -> dict[str, str]:
        """slot -> chosen image for a render context ({} without per-pass images).
        Raises PassRenderError when the data picks no declared image."""
        if self.image_choices is None:
            return {}
        try:
            return self.image_choices.choose(context)
        except ImageChoiceError as exc:
            raise PassRenderError([str(exc)]) from exc

    def assets_for(
        self, has_own_strings: bool, images: Mapping[str, str] | None = None
    ) -> PassTypeAssets:
        """The files a pass ships: the type's, or without its pass.strings for a pass with
        its own, with the pass's chosen images. Raises ImageChoiceError for images this
        pass type does not have."""
        own_strings = has_own_strings and self.message_assets is not None
        if not images or self.image_choices is None:
            if images:
                raise ImageChoiceError(f"images {sorted(images)} are not this pass type's")
            return self.message_assets if own_strings and self.message_assets else self.assets
        key = (own_strings, tuple(sorted(images.items())))
        assets = self._chosen_assets.get(key)
        if assets is None:
            files = {
                name: data
                for name, data in self.files.items()
                if not (own_strings and apple_messages.is_strings_file(name))
            }
            assets = PassTypeAssets.prepare({**files, **self.image_choices.files(images)})
            self._chosen_assets[key] = assets  # a race only prepares the same assets twice
        return assets


def _reference_problem(ref: Reference, declared: DeclaredData) -> str | None:
    """Why the template may not read `ref`, or None if it may."""
    segments = ref.segments
    if any(isinstance(segment, list) for segment in segments):
        return f"{ref.text} uses a computed key; name data keys literally so they can be checked"
    root, rest = segments[0], segments[1:]
    if root == "now":
        allowed = not rest
    elif root == "external":
        allowed = bool(rest) and rest[0] in declared.external
    elif root == "pass" and rest and rest[0] in PASS_SCALARS:
        allowed = len(rest) == 1
    elif root == "pass" and rest and rest[0] in PASS_GROUPS:
        allowed = len(rest) > 1 and rest[1] in declared.names(str(rest[0]))
    else:
        allowed = False
    return None if allowed else f"references {ref.text}, which the pass type does not declare"


def sample_context(declared: DeclaredData, pass_type_id: str) -> dict[str, Any]:
    """A render context holding every declared value, for the check render at load time."""

    def group(name: str) -> dict[str, object]:
        return {key: declared.sample(name, key) for key in declared.names(name)}

    return {
        "pass": {
            "id": "SAMPLE-PASS-ID",
            "passType": pass_type_id,
            "status": "active",
            # No expirationDate: most passes have none, so templates must cope without it.
            "balance": SAMPLE_BALANCE,
            **{name: group(name) for name in PASS_GROUPS},
        },
        "external": group("external"),
        "now": SAMPLE_NOW,
        apple_messages.TEMPLATE_VARIABLE: {"text": SAMPLE_MESSAGE.key},
    }


def build_render_context(
    document: Mapping[str, Any], *, external: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The render context for a stored pass document (shared/passes/documents.py)."""
    the_pass: dict[str, Any] = {
        "id": document["_id"],
        "passType": document["passType"],
        "status": document.get("status") or "active",
        "balance": (document.get("balance") or {}).get("amount", 0),
        "identifiers": dict(document.get("identifiers") or {}),
        "metadata": dict(document.get("metadata") or {}),
        "additionalData": dict(document.get("additionalData") or {}),
    }
    if document.get("expirationDate") is not None:
        the_pass["expirationDate"] = document["expirationDate"]
    messages = apple_messages.from_records(document.get("messages") or ())
    return {
        "pass": the_pass,
        "external": dict(external),
        "now": now,
        apple_messages.TEMPLATE_VARIABLE: apple_messages.template_value(messages),
    }


def _at(name: str, line: int | None) -> str:
    return f"{name}:{line}" if line else name


def _render_document(
    template: JsonTemplate, context: Mapping[str, Any], *, style: str | None, show_output: bool
) -> tuple[dict[str, Any] | None, list[str]]:
    """Render and check; (document, []) or (None or the document, problems). Rendered text
    is quoted in problems only if show_output (sample data): real passes hold personal data."""
    name = template.name
    try:
        text = template.render(context)
    except TemplateRenderError as exc:
        return None, [f"{_at(name, exc.line)}: {exc}"]
    try:
        doc = parse_pass_json(text)
    except ValueError as exc:
        reason = f"rendered output is not a valid JSON object: {exc}"
        lineno = getattr(exc, "lineno", None)
        if show_output and lineno is not None:
            reason += f"; output line {lineno}: {text.splitlines()[lineno - 1].strip()!r}"
        return None, [f"{name}: {reason}"]
    problems = [
        f"{name}: {path}: {reason}" if path else f"{name}: {reason}"
        for path, reason in validate_pass_json(doc)
    ]
    rendered_styles = styles_in(doc)
    if style is not None and len(rendered_styles) == 1 and rendered_styles != [style]:
        # The images were checked for the style found at load time.
        problems.append(f"{name}: renders a {rendered_styles[0]} pass; this one is {style}")
    return doc, problems


def _template_problems(
    source_path: Path, name: str, declared: DeclaredData, pass_type_id: str
) -> tuple[JsonTemplate | None, str | None, list[str]]:
    """(template, style, problems) for the pass.json template file."""
    try:
        source = source_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None, [f"{name}: is required"]
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, [f"{name}: cannot be read as UTF-8: {exc}"]
    try:
        template = parse_template(source, name)
    except TemplateSyntaxError as exc:
        return None, None, [f"{_at(name, exc.line)}: syntax error: {exc}"]
    problems = [
        f"{name}:{ref.line}: {reason}"
        for ref in referenced_variables(template)
        if ref.text != MESSAGE_VARIABLE  # Apple templates only (Google shares the rest)
        and (reason := _reference_problem(ref, declared)) is not None
    ]
    problems.extend(
        f"{name}:{line}: unknown filter {filter_name!r}"
        for filter_name, line in unknown_filters(template)
    )
    if problems:  # the check render would only repeat these as undefined values
        return template, None, problems
    context = sample_context(declared, pass_type_id)
    doc, render_problems = _render_document(template, context, style=None, show_output=True)
    styles = styles_in(doc) if doc is not None else []
    return template, styles[0] if len(styles) == 1 else None, render_problems


class _Folder:
    """Collects the static files of an apple/ folder and their problems."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory  # the apple/ folder
        self.files: dict[str, bytes] = {}
        self.image_files: dict[str, list[str]] = {}  # base name -> member names
        self.problems: list[str] = []

    def label(self, member: str) -> str:
        return f"{self.directory.name}/{member}"

    def add_image(self, member: str, path: Path) -> None:
        data = path.read_bytes()
        reasons = image_problems(path.name, data)
        self.problems.extend(f"{self.label(member)}: {reason}" for reason in reasons)
        parsed = parse_image_name(path.name)
        if not reasons and parsed is not None:
            self.files[member] = data
            self.image_files.setdefault(parsed[0], []).append(member)

    def add_lproj(self, folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            member = f"{folder.name}/{path.name}"
            if path.name.startswith("."):
                continue
            if path.name == STRINGS_NAME and path.is_file():
                try:
                    text = decode_strings(path.read_bytes())
                    entries = parse_strings_text(text)
                except StringsError as exc:
                    self.problems.append(f"{self.label(member)}: {exc}")
                    continue
                reserved = apple_messages.STRING_KEY_PREFIX
                self.problems.extend(
                    f"{self.label(member)}: key {key!r}: keys starting with {reserved!r} "
                    "are passwire's (messages)"
                    for key in entries
                    if key.startswith(reserved)
                )
                self.files[member] = to_utf16(text)
            elif path.suffix == ".png" and path.is_file():
                self.add_image(member, path)
            else:
                self.problems.append(
                    f"{self.label(member)}: unexpected file; a language folder holds "
                    f"{STRINGS_NAME} and localised images"
                )

    def scan(self) -> None:
        for path in sorted(self.directory.iterdir()):
            name = path.name
            if name.startswith(".") or name == PASS_JSON_NAME:
                continue  # dot files are editor/OS clutter; pass.json is the template
            if path.is_dir() and LPROJ_PATTERN.match(name):
                self.add_lproj(path)
            elif path.is_dir() and name == IMAGE_SET_FOLDER:
                continue  # per-pass images, checked with their declaration (image_choices)
            elif path.is_dir():
                self.problems.append(
                    f"{self.label(name)}: not a language folder (<language>.lproj, "
                    "e.g. en.lproj, pt-BR.lproj, zh-Hans.lproj)"
                )
            elif path.suffix == ".png":
                self.add_image(name, path)
            else:
                self.problems.append(
                    f"{self.label(name)}: unexpected file; expected {PASS_JSON_NAME}, PNG images "
                    "and <language>.lproj folders"
                )
        if REQUIRED_IMAGE not in self.files and not (self.directory / REQUIRED_IMAGE).exists():
            self.problems.append(
                f"{self.label(REQUIRED_IMAGE)}: is required (Wallet refuses a pass without an icon)"
            )

    def style_problems(self, style: str) -> list[str]:
        problems = []
        for base, reason in style_problems(style, self.image_files):
            members = ", ".join(self.label(m) for m in sorted(self.image_files[base]))
            problems.append(f"{members}: {reason}")
        return problems


def load_apple_pass_type(
    directory: Path, declared: DeclaredData, image_choices: object = None
) -> ApplePassType:
    """Load and check the `apple/` folder of the pass type folder `directory` (the one holding
    passtype.toml). `image_choices`: its [apple.images] table, if any. Raises
    ApplePassTypeError listing every problem, paths relative to `directory`
    ("apple/pass.json:12: ...")."""
    apple = directory / APPLE_FOLDER
    if not apple.is_dir():
        raise ApplePassTypeError(directory, [f"{APPLE_FOLDER}: folder is missing"])
    folder = _Folder(apple)
    folder.scan()
    name = f"{APPLE_FOLDER}/{PASS_JSON_NAME}"
    template, style, template_problems = _template_problems(
        apple / PASS_JSON_NAME, name, declared, pass_type_id=directory.name
    )
    problems = template_problems + folder.problems
    image_set, image_set_problems = read_image_set(apple)
    choices, choice_problems = parse_image_choices(
        image_choices,
        image_set,
        reference_problem=lambda ref: _reference_problem(ref, declared),
        sample=sample_context(declared, pass_type_id=directory.name),
    )
    problems.extend(image_set_problems + choice_problems)
    if style is not None:
        problems.extend(folder.style_problems(style))
        chosen = declared_slots(image_choices)
        problems.extend(chosen_slot_problems(style, folder.image_files, chosen))
    places_message = False
    if template is not None and style is not None and not problems:
        places_message, message_problems = _message_placement(
            template, style, sample_context(declared, pass_type_id=directory.name)
        )
        problems.extend(message_problems)
    if problems or template is None or style is None:
        raise ApplePassTypeError(directory, problems)
    return ApplePassType(
        style=style,
        template=template,
        files=folder.files,
        declared=declared,
        assets=PassTypeAssets.prepare(folder.files),
        prechecked=PrecheckedTemplate.learn(
            template, style, sample_context(declared, pass_type_id=directory.name)
        ),
        message_assets=PassTypeAssets.prepare(
            {k: v for k, v in folder.files.items() if not apple_messages.is_strings_file(k)}
        ),
        places_message=places_message,
        type_strings=apple_messages.TypeStrings.of(folder.files),
        image_choices=choices,
    )


def _message_placement(
    template: JsonTemplate, style: str, sample: Mapping[str, Any]
) -> tuple[bool, list[str]]:
    """(whether the template shows the newest message itself, problems). A template that
    writes `{{ message.text }}` must make it a field's whole value with a changeMessage
    holding %@, in the check render: else no iPhone would get the alert (load fails)."""
    name = template.name
    variable = MESSAGE_VARIABLE
    places = any(ref.text == variable for ref in referenced_variables(template))
    doc, _ = _render_document(template, sample, style=style, show_output=False)
    fields = [
        item
        for group in FIELD_GROUPS
        for item in ((doc or {}).get(style) or {}).get(group) or []
        if isinstance(item, dict)
    ]
    problems = [
        f"{name}: field key {item['key']!r}: keys starting with "
        f"{apple_messages.RESERVED_FIELD_PREFIX!r} are passwire's (messages)"
        for item in fields
        if str(item.get("key", "")).startswith(apple_messages.RESERVED_FIELD_PREFIX)
    ]
    if places and not any(
        item.get("value") == SAMPLE_MESSAGE.key and "%@" in str(item.get("changeMessage", ""))
        for item in fields
    ):
        problems.append(
            f"{name}: {{{{ {variable} }}}} is not a field's whole value with a changeMessage "
            "containing %@ (as the check render gives it), so iPhones would get no message "
            'alert: use e.g. {"key": "news", "value": "{{ message.text }}", '
            '"changeMessage": "%@"}, or drop it and passwire adds the field on the back'
        )
    return places, problems


def render_pass_json(
    pass_type: ApplePassType,
    context: Mapping[str, Any],
    *,
    serial_number: str,
    authentication_token: str,
    web_service_url: str,
    pass_type_identifier: str,
    team_identifier: str,
    status_keys: Mapping[str, Any] | None = None,
) -> bytes:
    """The pass.json bytes for one pass: compact, keys sorted, so equal data gives equal bytes.
    See render_pass."""
    return render_pass(
        pass_type,
        context,
        serial_number=serial_number,
        authentication_token=authentication_token,
        web_service_url=web_service_url,
        pass_type_identifier=pass_type_identifier,
        team_identifier=team_identifier,
        status_keys=status_keys,
    ).pass_json


def render_pass(
    pass_type: ApplePassType,
    context: Mapping[str, Any],
    *,
    serial_number: str,
    authentication_token: str,
    web_service_url: str,
    pass_type_identifier: str,
    team_identifier: str,
    status_keys: Mapping[str, Any] | None = None,
) -> RenderedPassJson:
    """The pass.json for one pass (render_pass_json), with its barcode messages when the
    render shortcut knows them without parsing.

    Raises PassRenderError if the data does not render to a valid pass.json (e.g. a value the
    template outputs is missing). Identifiers come from the signing certificate; `status_keys`
    (pass_json.STATUS_KEYS: `voided`, `expirationDate`) from the pass's lifecycle."""
    if len(authentication_token) < MIN_AUTHENTICATION_TOKEN:
        raise ValueError("authenticationToken must be at least 16 characters (Apple's minimum)")
    # Passes with status keys are few (voided, expiring): they take the full path.
    if pass_type.prechecked is not None and not status_keys:
        owned = (
            serial_number,
            authentication_token,
            web_service_url,
            pass_type_identifier,
            team_identifier,
        )
        rendered = pass_type.prechecked.render_pass(context, owned)
        if rendered is not None:
            return rendered
    doc, problems = _render_document(
        pass_type.template, context, style=pass_type.style, show_output=False
    )
    if problems or doc is None:
        raise PassRenderError(problems)
    doc.update(
        formatVersion=1,
        serialNumber=serial_number,
        authenticationToken=authentication_token,
        webServiceURL=web_service_url,
        passTypeIdentifier=pass_type_identifier,
        teamIdentifier=team_identifier,
        **(status_keys or {}),
    )
    return RenderedPassJson(serialise(doc))
