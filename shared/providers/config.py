"""External data providers of a tenant, from `[[providers]]` entries in its tenant.toml:

    [[providers]]
    id = "crm"
    url = "$DEMO_CRM_URL/customers/{identifiers.crm}"  # $VARS expand when the tenant loads
    auth_header = "Authorization"      # optional, together with auth_env
    auth_env = "DEMO_CRM_TOKEN"        # the header's value, sent as-is ("Bearer …"); never logged
    timeout_s = 2.0                    # per attempt; optional, default 2.0, at most 30
    fields = { firstName = "first_name", points = "loyalty.points" }
    pass_types = ["member"]            # optional: only these pass types (default: all)

The URL names exactly one identifier of the pass, `{identifiers.<key>}` (a nested one as
`{identifiers.y2.customerId}`), in its path or query (never in the scheme or host); the
value is percent-encoded (`/` too) when the URL is built. A pass without that identifier (or
whose identifier is not a string or a number) gets no data from the provider, and no error.

A provider may also declare a batch form, used by campaigns, their previews and imports (one
request for up to `max_ids` passes instead of one per pass; docs/tenants.md has an example):

    [providers.batch]
    method = "POST"                    # POST or GET
    url = "$DEMO_CRM_URL/customers/batch"  # no placeholder: the ids go in the body or query
    ids_body_field = "ids"             # POST: {"ids": ["C-1", …]}; or, for either method,
    # ids_query_param = "id"           # ?id=C-1&id=C-2…
    max_ids = 500                      # ids per request, at most 1,000
    answers = "customers"              # dotted path of the answers in the response ("": all)
    # answer_key = "id"                # answers as a list, each record's id at this path;
                                       # without it, answers are a map id → record
    timeout_s = 10.0                   # optional; default: the provider's

Each pass's record is read from the answers by its identifier (as text) and mapped with the
same `fields`; an id missing from the answers (or answered `null`) fails that pass only.

`fields` maps each external name (read by templates as `external.<name>`, declared in a pass
type's `[data] external`) to a dotted path in the JSON answer (`loyalty.points`; a number
segment indexes an array). External names are flat: two providers of a tenant may not map
the same name. A path absent from an answer leaves the name absent (templates give a
`| default:`), it is not an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.tenancy.config_tables import load_tables

DEFAULT_TIMEOUT_S = 2.0
MAX_TIMEOUT_S = 30.0
MAX_BATCH_IDS = 1000
BATCH_METHODS = ("GET", "POST")
PLACEHOLDER = re.compile(r"\{identifiers\.([A-Za-z0-9_-]{1,64}(?:\.[A-Za-z0-9_-]{1,64}){0,3})\}")
_ENV_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")  # as pass types' [data] names
_PATH_SEGMENT = re.compile(r"[^.\s]{1,128}")
_URL = validate.URL(relative=False, schemes={"http", "https"}, require_tld=False)


class ProviderConfigError(ValueError):
    """A `[[providers]]` entry is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class BatchForm:
    """How a provider answers many passes in one request (`[providers.batch]`)."""

    method: str  # "GET" or "POST"
    url: str  # $VARS already expanded
    ids_body_field: str | None  # POST: the JSON body's field holding the list of ids
    ids_query_param: str | None  # else: the query parameter repeated once per id
    max_ids: int
    answers_path: tuple[str, ...]  # where the answers are in the response; () for all of it
    answer_key: tuple[str, ...] | None  # answers as a list, each one's id here; None: a map
    timeout_s: float


@dataclass(frozen=True)
class ProviderConfig:
    id: str
    url_template: str  # $VARS already expanded; `{identifiers.<key>}` left for build_url
    identifier: str  # the identifier the URL names, dotted for a nested one ("y2.customerId")
    auth_header: str | None
    auth_env: str | None
    timeout_s: float
    # external name -> dotted JSON path in the answer
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    pass_types: frozenset[str] | None = None  # None: every pass type of the tenant
    batch: BatchForm | None = None  # None: one request per pass only

    def applies_to(self, pass_type: str) -> bool:
        return self.pass_types is None or pass_type in self.pass_types

    def identifier_value(self, identifiers: Mapping[str, Any]) -> str | None:
        """The pass's identifier as text, or None when it has none usable."""
        value: Any = identifiers
        for segment in self.identifier.split("."):
            if not isinstance(value, Mapping) or segment not in value:
                return None
            value = value[segment]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return None
        text = str(value)
        # "." and ".." would be resolved as path segments: never let a value walk the URL
        # (and a batch request skips them too, so both forms serve the same passes).
        return None if text.strip(".") == "" else text

    def build_url(self, identifiers: Mapping[str, Any]) -> str | None:
        """The URL for a pass's identifiers (percent-encoded), or None when it lacks one."""
        value = self.identifier_value(identifiers)
        if value is None:
            return None
        encoded = quote(value, safe="")
        return PLACEHOLDER.sub(lambda _: encoded, self.url_template)

    def auth_value(self, environ: Mapping[str, str] = os.environ) -> str | None:
        """The auth header's value, read from the environment when needed (None when unset)."""
        if self.auth_env is None:
            return None
        return environ.get(self.auth_env) or None


class BatchSchema(Schema):
    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf(BATCH_METHODS))
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    ids_body_field = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"))
    ids_query_param = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.\[\]-]{1,64}$"))
    max_ids = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_BATCH_IDS)
    )
    answers = fields.String(load_default="", validate=validate.Length(max=512))
    answer_key = fields.String(validate=validate.Length(min=1, max=512))
    timeout_s = fields.Float(validate=validate.Range(min=0, max=MAX_TIMEOUT_S, min_inclusive=False))


class ProviderSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,62}$"))
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    auth_header = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9-]{1,64}$"))
    auth_env = fields.String(validate=validate.Regexp(r"^[A-Z_][A-Z0-9_]{0,127}$"))
    timeout_s = fields.Float(
        load_default=DEFAULT_TIMEOUT_S,
        validate=validate.Range(min=0, max=MAX_TIMEOUT_S, min_inclusive=False),
    )
    field_map = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.String(),
        required=True,
        validate=validate.Length(min=1),
    )
    pass_types = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(min=1),
        load_default=None,
    )
    batch = fields.Nested(BatchSchema, load_default=None)


def parse_providers(
    entries: Any,
    source: str,
    *,
    known_pass_types: Collection[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> tuple[ProviderConfig, ...]:
    """Validate the `[[providers]]` array of `source` (a file name, for error messages).
    With `known_pass_types`, `pass_types` may only name those."""
    providers: list[ProviderConfig] = []
    owners: dict[str, str] = {}  # external name -> provider id
    tables = load_tables(entries, "providers", ProviderSchema(), source, ProviderConfigError)
    for where, data in tables:
        try:
            provider = _provider(data, owners, known_pass_types, environ)
        except _FieldProblem as problem:
            raise ProviderConfigError(f"{source}: {where}.{problem.field}: {problem}") from None
        if any(other.id == provider.id for other in providers):
            raise ProviderConfigError(
                f"{source}: {where}.id: {provider.id!r} is used by another provider"
            )
        owners.update(dict.fromkeys(provider.fields, provider.id))
        providers.append(provider)
    return tuple(providers)


class _FieldProblem(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name


def _provider(
    data: dict[str, Any],
    owners: Mapping[str, str],
    known_pass_types: Collection[str] | None,
    environ: Mapping[str, str],
) -> ProviderConfig:
    url_template, identifier = _url_template(data["url"], environ)
    auth_header, auth_env = data.get("auth_header"), data.get("auth_env")
    if (auth_header is None) != (auth_env is None):
        missing = "auth_env" if auth_env is None else "auth_header"
        raise _FieldProblem(missing, "auth_header and auth_env go together")
    mapped = {name: _json_path(name, path) for name, path in data["field_map"].items()}
    for name in mapped:
        if name in owners:
            raise _FieldProblem(
                f"fields.{name}",
                f"provider {owners[name]!r} already maps {name!r} (external names are shared)",
            )
    pass_types = data["pass_types"]
    if pass_types is not None and known_pass_types is not None:
        unknown = sorted(set(pass_types) - set(known_pass_types))
        if unknown:
            raise _FieldProblem("pass_types", f"unknown pass types {unknown}")
    timeout_s = float(data["timeout_s"])
    batch = None if data["batch"] is None else _batch_form(data["batch"], timeout_s, environ)
    return ProviderConfig(
        id=data["id"],
        url_template=url_template,
        identifier=identifier,
        auth_header=auth_header,
        auth_env=auth_env,
        timeout_s=timeout_s,
        fields=MappingProxyType(mapped),
        pass_types=None if pass_types is None else frozenset(pass_types),
        batch=batch,
    )


def _batch_form(data: dict[str, Any], timeout_s: float, environ: Mapping[str, str]) -> BatchForm:
    url = _expand(data["url"], environ, "batch.url")
    if PLACEHOLDER.search(url) or "{" in url or "}" in url:
        raise _FieldProblem("batch.url", "takes no placeholder: the ids go in the body or query")
    if not url.partition("://")[1]:
        raise _FieldProblem("batch.url", "must be an absolute http(s) URL")
    try:
        _URL(url)
    except ValidationError:
        raise _FieldProblem("batch.url", "must be an absolute http(s) URL") from None
    body_field, query_param = data.get("ids_body_field"), data.get("ids_query_param")
    if (body_field is None) == (query_param is None):
        raise _FieldProblem(
            "batch.ids_body_field", "give exactly one of ids_body_field and ids_query_param"
        )
    if body_field is not None and data["method"] != "POST":
        raise _FieldProblem("batch.ids_body_field", 'a JSON body needs method = "POST"')
    answers = data["answers"]
    if answers and not all(_PATH_SEGMENT.fullmatch(s) for s in answers.split(".")):
        raise _FieldProblem("batch.answers", f"{answers!r} is not a dotted JSON path")
    key = data.get("answer_key")
    if key is not None and not all(_PATH_SEGMENT.fullmatch(s) for s in key.split(".")):
        raise _FieldProblem("batch.answer_key", f"{key!r} is not a dotted JSON path")
    return BatchForm(
        method=data["method"],
        url=url,
        ids_body_field=body_field,
        ids_query_param=query_param,
        max_ids=data["max_ids"],
        answers_path=tuple(answers.split(".")) if answers else (),
        answer_key=None if key is None else tuple(key.split(".")),
        timeout_s=float(data.get("timeout_s", timeout_s)),
    )


def _url_template(raw: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """The URL with $VARS expanded, and the one identifier it names."""

    url = _expand(raw, environ, "url")
    names = set(PLACEHOLDER.findall(url))
    if len(names) != 1:
        raise _FieldProblem(
            "url", "must name exactly one identifier as {identifiers.<key>}, e.g. {identifiers.crm}"
        )
    rest = PLACEHOLDER.sub("", url)
    if "{" in rest or "}" in rest:
        raise _FieldProblem("url", "only {identifiers.<key>} placeholders are allowed")
    scheme, sep, after_scheme = url.partition("://")
    authority = after_scheme.split("/", 1)[0].split("?", 1)[0]
    if not sep or PLACEHOLDER.search(scheme) or PLACEHOLDER.search(authority):
        raise _FieldProblem("url", "the identifier may only appear in the path or the query")
    try:
        _URL(PLACEHOLDER.sub("id", url))
    except ValidationError:
        raise _FieldProblem("url", "must be an absolute http(s) URL") from None
    return url, names.pop()


def _expand(raw: str, environ: Mapping[str, str], field_name: str) -> str:
    """`raw` with its $VARS replaced by their values from the environment."""

    def expand(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        value = environ.get(name)
        if not value:
            raise _FieldProblem(field_name, f"environment variable {name} is not set")
        return value

    return _ENV_REFERENCE.sub(expand, raw)


def _json_path(name: str, path: str) -> str:
    if not _NAME.fullmatch(name):
        raise _FieldProblem(f"fields.{name}", "is not a name (letters, digits, _ or -)")
    segments = path.split(".")
    if not all(_PATH_SEGMENT.fullmatch(segment) for segment in segments):
        raise _FieldProblem(f"fields.{name}", f"{path!r} is not a dotted JSON path")
    return path
