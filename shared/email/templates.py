"""The email a holder receives, per language: `email/<lang>/subject.txt`, `body.txt` and
optionally `body.html` in the tenant's folder, Liquid templates (python-liquid: no code).

They may read only `tenant.name`, `pass_type.description`, `link` (the download page, with a
fresh signed token) and `name` (the holder's name, when the caller gave one: write
`{{ name | default: "there" }}` or `{% if name %}…{% endif %}`). A missing value is an error,
never an empty string. body.html is escaped for HTML (autoescape); the text files are not.
Each file is parsed, checked for unknown variables and filters, and rendered with sample
values (with and without a name) when the tenant loads, so a broken template stops start-up
with its file named instead of failing a customer's email.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from liquid import BoundTemplate, Environment, FalsyStrictUndefined, Mode
from liquid.exceptions import LiquidError

SUBJECT_FILE = "subject.txt"
TEXT_FILE = "body.txt"
HTML_FILE = "body.html"
TEMPLATE_FILES = (SUBJECT_FILE, TEXT_FILE, HTML_FILE)
VARIABLES = (("tenant", "name"), ("pass_type", "description"), ("link",), ("name",))
_VARIABLE_NAMES = ", ".join(".".join(path) for path in VARIABLES)
MAX_SUBJECT_LENGTH = 200
_WHITESPACE = re.compile(r"\s+")


class EmailTemplateError(ValueError):
    """A template file is invalid; the message names the file (and line when known)."""


class EmailRenderError(ValueError):
    """Rendering failed. `path` and `line` say where: unlike the message, which may quote a
    value, they are safe to record in an operation."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{_where(path, line)}: {message}")
        self.path = path
        self.line = line


class _OptionalStrictUndefined(FalsyStrictUndefined):
    """Strict when written or filtered; false in `{% if %}`; replaced by `| default`."""

    force_liquid_default = True


class _EmailEnvironment(Environment):
    # An email is a few KB: these limits only stop a runaway template.
    loop_iteration_limit: ClassVar[int | None] = 1_000
    output_stream_limit: ClassVar[int | None] = 256 * 1024
    local_namespace_limit: ClassVar[int | None] = 16 * 1024

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            tolerance=Mode.STRICT,
            undefined=_OptionalStrictUndefined,
            strict_filters=True,
            autoescape=autoescape,
        )

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        for name in ("include", "render"):  # would read other files
            del self.tags[name]


TEXT_ENVIRONMENT = _EmailEnvironment(autoescape=False)
HTML_ENVIRONMENT = _EmailEnvironment(autoescape=True)


@dataclass(frozen=True)
class EmailValues:
    """What the templates may read."""

    tenant_name: str
    pass_type_description: str
    link: str
    name: str | None = None

    def as_context(self) -> dict[str, Any]:
        context: dict[str, Any] = {
            "tenant": {"name": self.tenant_name},
            "pass_type": {"description": self.pass_type_description},
            "link": self.link,
        }
        if self.name is not None:
            context["name"] = self.name
        return context


@dataclass(frozen=True)
class EmailContent:
    subject: str  # one line
    text: str
    html: str | None


@dataclass(frozen=True, eq=False)
class _Template:
    path: Path
    bound: BoundTemplate

    def render(self, context: Mapping[str, Any]) -> str:
        try:
            return self.bound.render(dict(context))
        except LiquidError as err:
            raise EmailRenderError(self.path, _line(err), str(err.message)) from None


@dataclass(frozen=True, eq=False)
class LanguageTemplates:
    """One language's templates, parsed once; safe to render from many threads."""

    language: str
    subject: _Template
    text: _Template
    html: _Template | None

    def render(self, values: EmailValues) -> EmailContent:
        context = values.as_context()
        subject = _WHITESPACE.sub(" ", self.subject.render(context)).strip()
        if not subject:
            raise EmailRenderError(self.subject.path, None, "the subject renders empty")
        if len(subject) > MAX_SUBJECT_LENGTH:
            raise EmailRenderError(
                self.subject.path, None, f"the subject is over {MAX_SUBJECT_LENGTH} characters"
            )
        html = self.html.render(context) if self.html is not None else None
        return EmailContent(subject=subject, text=self.text.render(context), html=html)


# Rendered when a tenant loads: a template must work with and without the holder's name.
_SAMPLES = (
    EmailValues("Sample Brand", "Loyalty card", "https://wallet.example.com/view?t=1", "Ada"),
    EmailValues("Sample Brand", "Loyalty card", "https://wallet.example.com/view?t=1"),
)


def load_language(folder: Path) -> LanguageTemplates:
    """The templates in `folder` (`email/<lang>/`), checked as the module docstring says."""
    unknown = sorted(p.name for p in folder.iterdir() if p.name not in TEMPLATE_FILES)
    if unknown:
        raise EmailTemplateError(
            f"{folder}: unexpected files {unknown} (expected {', '.join(TEMPLATE_FILES)})"
        )
    html_path = folder / HTML_FILE
    templates = LanguageTemplates(
        language=folder.name.lower(),
        subject=_parse(folder / SUBJECT_FILE, TEXT_ENVIRONMENT),
        text=_parse(folder / TEXT_FILE, TEXT_ENVIRONMENT),
        html=_parse(html_path, HTML_ENVIRONMENT) if html_path.exists() else None,
    )
    for sample in _SAMPLES:
        try:
            templates.render(sample)
        except EmailRenderError as exc:
            without = "" if sample.name else " (rendered without a name)"
            raise EmailTemplateError(f"{exc}{without}") from None
    return templates


def _parse(path: Path, environment: Environment) -> _Template:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EmailTemplateError(f"{path}: file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EmailTemplateError(f"{path}: unreadable: {exc}") from None
    try:
        bound = environment.from_string(source, name=path.name)
    except LiquidError as err:
        raise EmailTemplateError(f"{_where(path, _line(err))}: {err.message}") from None
    _check_names(path, source, bound, environment)
    return _Template(path, bound)


def _check_names(path: Path, source: str, bound: BoundTemplate, environment: Environment) -> None:
    analysis = bound.analyze(include_partials=False)
    for variables in analysis.globals.values():
        for variable in variables:
            if tuple(variable.segments) not in VARIABLES:
                line = source.count("\n", 0, variable.span.index) + 1
                raise EmailTemplateError(
                    f"{path}: line {line}: unknown variable '{variable}' "
                    f"(templates may read {_VARIABLE_NAMES})"
                )
    for name, spans in analysis.filters.items():
        if name not in environment.filters:
            line = source.count("\n", 0, spans[0].index) + 1
            raise EmailTemplateError(f"{path}: line {line}: unknown filter '{name}'")


def _line(err: LiquidError) -> int | None:
    context = err.context()
    return context[0] if context else None


def _where(path: Path, line: int | None) -> str:
    return f"{path}: line {line}" if line is not None else str(path)
