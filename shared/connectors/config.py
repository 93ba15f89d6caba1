"""Connectors of a tenant, one per file: `<tenant>/connectors/<name>.toml`, served at
`POST /connect/<tenantId>/<name>`. Example definitions to copy are in config/connectors/.

    platform = "hubspot"                  # what calls it (documentation only)

    [auth]
    scheme = "hubspot-v3"                 # shared-secret | hubspot-v3 | passwire-v1
    secret_env = "DEMO_HUBSPOT_SECRET"    # the secret's environment variable, never the secret
    # header = "X-Passwire-Secret"        # shared-secret: the header carrying it
    # tolerance_s = 300                   # signed schemes: the timestamp window

    [action]
    kind = "update"              # create | update | notify | push_update | redeem | balance
    query = '{"id.crm": "{{ payload.vid }}"}'   # template: the query parameters
    body = '{"metadata": {"tier": "{{ payload.properties.tier.value }}"}}'  # its body
    # idempotency_key = 'hubspot-{{ payload.vid }}'   # template: the call's Idempotency-Key

    [outbound]                            # optional: pass events back to the tool
    url = "https://tool.example/ingest"   # ${NAME} and ${NAME:-default} read the environment
    events = ["pass.installed", "pass.uninstalled"]
    secret_env = "DEMO_HUBSPOT_OUTBOUND_SECRET"
    body = '{"email": "{{ event.data.passId }}"}'   # template over the event

Templates read only `payload` (inbound) or `event` (outbound): shared/connectors/templates.py.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.apple.templates import JsonTemplate
from shared.connectors.templates import EVENT, PAYLOAD, ConnectorTemplateError, parse_rooted
from shared.tenancy.config_tables import describe
from shared.webhooks.config import (
    PASS_INSTALLED,
    PASS_REDEEMED,
    PASS_UNINSTALLED,
    WebhookEndpoint,
    WebhookEndpointSchema,
)

FOLDER = "connectors"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # fullmatch; it is a URL segment

SHARED_SECRET = "shared-secret"
HUBSPOT_V3 = "hubspot-v3"
PASSWIRE_V1 = "passwire-v1"
AUTH_SCHEMES = (SHARED_SECRET, HUBSPOT_V3, PASSWIRE_V1)
DEFAULT_SECRET_HEADER = "X-Passwire-Connector-Secret"
DEFAULT_TOLERANCE_S = 300

CREATE, UPDATE, NOTIFY, PUSH_UPDATE, REDEEM, BALANCE = (
    "create",
    "update",
    "notify",
    "push_update",
    "redeem",
    "balance",
)
ACTION_KINDS = (CREATE, UPDATE, NOTIFY, PUSH_UPDATE, REDEEM, BALANCE)
# Actions on one pass, named by the query (`id.<system>.<key>` or `id`).
NEEDS_LOOKUP = frozenset({UPDATE, NOTIFY, REDEEM, BALANCE})
OUTBOUND_EVENTS = (PASS_INSTALLED, PASS_UNINSTALLED, PASS_REDEEMED)

_ENV_NAME = validate.Regexp(r"^[A-Z_][A-Z0-9_]{0,127}$", error="must be an environment variable")
_ENV_REFERENCE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


class ConnectorConfigError(ValueError):
    """A connector file is invalid; the message names the file and the field, `field` the
    field alone (dotted, e.g. `auth.scheme`; the API answers 422 naming it)."""

    def __init__(self, message: str, *, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


def _first_field(messages: Any, prefix: str = "") -> str:
    """The dotted name of the first invalid field in marshmallow's messages."""
    if isinstance(messages, dict) and messages:
        key, value = next(iter(messages.items()))
        if key == "_schema":
            return prefix.rstrip(".") or "body"
        if isinstance(value, dict) and not str(key).isdigit():
            return _first_field(value, f"{prefix}{key}.")
        return f"{prefix}{key}"
    return prefix.rstrip(".") or "body"


@dataclass(frozen=True)
class ConnectorAuth:
    scheme: str
    secret_env: str
    header: str
    tolerance_s: int

    def secret(self, environ: Mapping[str, str] = os.environ) -> str | None:
        """Read when a request arrives (None when unset: every request is then refused)."""
        return environ.get(self.secret_env) or None


@dataclass(frozen=True)
class ConnectorAction:
    kind: str
    query: JsonTemplate | None
    body: JsonTemplate | None
    # Text, not JSON: the Idempotency-Key of the call (a retried webhook replays its answer).
    idempotency_key: JsonTemplate | None = None


@dataclass(frozen=True)
class Connector:
    name: str
    platform: str
    auth: ConnectorAuth
    action: ConnectorAction
    # A webhook endpoint with a body template: delivered like any webhook.
    outbound: WebhookEndpoint | None = None


class _AuthSchema(Schema):
    class Meta:
        unknown = RAISE

    scheme = fields.String(required=True, validate=validate.OneOf(AUTH_SCHEMES))
    secret_env = fields.String(required=True, validate=_ENV_NAME)
    header = fields.String(
        load_default=DEFAULT_SECRET_HEADER,
        validate=validate.Regexp(r"^[A-Za-z0-9-]{1,64}$", error="must be a header name"),
    )
    tolerance_s = fields.Integer(
        load_default=DEFAULT_TOLERANCE_S, validate=validate.Range(min=1, max=3600)
    )


class _ActionSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(ACTION_KINDS))
    query = fields.String(load_default=None, validate=validate.Length(max=16_384))
    body = fields.String(load_default=None, validate=validate.Length(max=65_536))
    idempotency_key = fields.String(load_default=None, validate=validate.Length(max=1024))


class _OutboundSchema(Schema):
    class Meta:
        unknown = RAISE

    url = fields.String(required=True)
    events = fields.List(
        fields.String(validate=validate.OneOf(OUTBOUND_EVENTS)),
        required=True,
        validate=validate.Length(min=1),
    )
    secret_env = fields.String(required=True, validate=_ENV_NAME)
    body = fields.String(required=True, validate=validate.Length(max=65_536))


class _ConnectorSchema(Schema):
    class Meta:
        unknown = RAISE

    platform = fields.String(required=True, validate=validate.Length(min=1, max=64))
    auth = fields.Nested(_AuthSchema, required=True)
    action = fields.Nested(_ActionSchema, required=True)
    outbound = fields.Nested(_OutboundSchema, load_default=None)


def load_connectors(
    tenant_dir: Path, environ: Mapping[str, str] = os.environ
) -> tuple[Connector, ...]:
    """Every `connectors/*.toml` of the tenant, validated (none when the folder is absent)."""
    folder = tenant_dir / FOLDER
    if not folder.is_dir():
        return ()
    return tuple(
        load_connector(path, environ) for path in sorted(folder.iterdir()) if path.suffix == ".toml"
    )


def load_connector(path: Path, environ: Mapping[str, str] = os.environ) -> Connector:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorConfigError(f"{path}: {exc}") from exc
    return parse_connector(path.stem, text, path, environ)


def parse_connector(
    name: str, text: str, where: PurePath, environ: Mapping[str, str] = os.environ
) -> Connector:
    """One connector from its TOML text: the loader of files and of the API's definitions
    (shared/connectors/stored.py). `where` names it in errors (a file, or `api/<name>.toml`)."""
    path = where
    if not NAME_PATTERN.fullmatch(name):
        raise ConnectorConfigError(
            f"{path}: the file name is the URL segment: lower-case letters, digits, - and _",
            field="name",
        )
    try:
        raw = tomllib.loads(text)
        data: dict[str, Any] = _ConnectorSchema().load(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConnectorConfigError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        raise ConnectorConfigError(
            f"{path}: {describe(exc.messages_dict)}", field=_first_field(exc.messages_dict)
        ) from exc
    action = data["action"]
    if action["kind"] in NEEDS_LOOKUP and action["query"] is None:
        raise ConnectorConfigError(
            f"{path}: action.query: {action['kind']} names its pass: give id.<system>.<key>",
            field="action.query",
        )
    return Connector(
        name=name,
        platform=data["platform"],
        auth=ConnectorAuth(**data["auth"]),
        action=ConnectorAction(
            kind=action["kind"],
            query=_template(path, "action.query", action["query"], PAYLOAD),
            body=_template(path, "action.body", action["body"], PAYLOAD),
            idempotency_key=_template(
                path, "action.idempotency_key", action["idempotency_key"], PAYLOAD
            ),
        ),
        outbound=_outbound(path, name, data["outbound"], environ),
    )


def _template(path: PurePath, field: str, source: str | None, root: str) -> JsonTemplate | None:
    if source is None:
        return None
    try:
        return parse_rooted(source, f"{path.name}:{field}", root)
    except ConnectorTemplateError as exc:
        raise ConnectorConfigError(f"{path}: {field}: {exc}", field=field) from exc


def _outbound(
    path: PurePath, name: str, entry: dict[str, Any] | None, environ: Mapping[str, str]
) -> WebhookEndpoint | None:
    if entry is None:
        return None
    url = _expand(path, entry["url"], environ)
    checked = {
        "id": f"connector-{name}"[:63],
        "url": url,
        "events": entry["events"],
        "secret_env": entry["secret_env"],
    }
    try:
        WebhookEndpointSchema().load(checked)
    except ValidationError as exc:
        raise ConnectorConfigError(
            f"{path}: outbound: {describe(exc.messages_dict)}",
            field=_first_field(exc.messages_dict, "outbound."),
        ) from exc
    return WebhookEndpoint(
        id=checked["id"],
        url=url,
        events=frozenset(entry["events"]),
        secret_env=entry["secret_env"],
        body_template=_template(path, "outbound.body", entry["body"], EVENT),
    )


def _expand(path: PurePath, text: str, environ: Mapping[str, str]) -> str:
    """$NAME, ${NAME} and ${NAME:-default} from the environment."""

    def expand(match: re.Match[str]) -> str:
        variable = match.group(1) or match.group(3)
        value = environ.get(variable)
        if value:
            return value
        if match.group(2) is not None:
            return match.group(2)
        raise ConnectorConfigError(
            f"{path}: outbound.url: environment variable {variable} is not set",
            field="outbound.url",
        )

    return _ENV_REFERENCE.sub(expand, text)


# Query parameters that carry a credential when a URL is written with one.
_SECRET_PARAMETER = re.compile(r"(token|secret|key|password|passwd|signature|sig|auth)", re.I)


def inline_secret(text: str) -> str | None:
    """What in a connector's TOML would carry a secret value rather than an environment
    variable's name: credentials written into `outbound.url` (user:password@ or a token-like
    query parameter) outside a ${NAME} reference. The schema refuses any other field (its
    secrets are `secret_env` names), so this is the one place a value could hide. The
    definitions the API stores are checked (they sit in MongoDB and its backups); files
    are the operator's and keep the loader's rules."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None  # the loader names the syntax error
    outbound = raw.get("outbound")
    url = outbound.get("url") if isinstance(outbound, dict) else None
    if not isinstance(url, str):
        return None
    # What the environment supplies is not inline; a ${NAME:-default} default is.
    literal = _ENV_REFERENCE.sub(lambda m: m.group(2) or "", url)
    parts = urlsplit(literal)
    if parts.password or (parts.username and "@" in parts.netloc):
        return "outbound.url"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and _SECRET_PARAMETER.search(name):
            return "outbound.url"
    return None
