"""A tenant's outgoing mail server, from the `[smtp]` table of its tenant.toml:

    [smtp]
    host = "smtp.example.com"          # $VARS expand when the tenant loads
    port = 587                         # default 587; or text: "${DEMO_SMTP_PORT:-2525}"
    security = "starttls"              # starttls (default) | tls | none
    username_env = "DEMO_SMTP_USER"    # optional, with password_env: names, never values
    password_env = "DEMO_SMTP_PASSWORD"
    from = "Demo Coffee <wallet@example.com>"
    reply_to = "help@example.com"      # optional
    timeout_s = 10                     # per connection step; default 10, at most 60

`security = "none"` sends in clear text: allowed only towards this machine (a loopback host)
or for a local-only tenant (the demo), so a typo cannot send customers' addresses, or the
credentials, across a network unencrypted. There is no opportunistic mode: `starttls` fails
when the server does not offer STARTTLS rather than carry on in clear text.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.email.addresses import MailboxError, format_mailbox, parse_mailbox
from shared.tenancy.config_tables import describe

STARTTLS = "starttls"
TLS = "tls"
NONE = "none"
SECURITY_MODES = (STARTTLS, TLS, NONE)
DEFAULT_PORT = 587
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 60.0
# $NAME, ${NAME}, or ${NAME:-default} when NAME is unset or empty.
_ENV_REFERENCE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
_ENV_NAME = validate.Regexp(
    r"^[A-Z_][A-Z0-9_]{0,127}$", error="must be an environment variable name"
)


class EmailConfigError(ValueError):
    """The `[smtp]` table or an email template is invalid; the message names file and field."""


class MissingCredentials(Exception):
    """An environment variable `[smtp]` names is unset; the message names it."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str
    sender_name: str  # the display name of `from`, possibly empty
    sender: str  # the address of `from`, also the envelope sender
    reply_to: str | None  # as a header value
    username_env: str | None
    password_env: str | None
    timeout_s: float

    @property
    def from_header(self) -> str:
        return format_mailbox(self.sender_name, self.sender)

    def credentials(self, environ: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
        """(username, password) read from the environment when sending; None without login.
        Raises MissingCredentials naming an unset variable."""
        if self.username_env is None or self.password_env is None:
            return None
        for name in (self.username_env, self.password_env):
            if not environ.get(name):
                raise MissingCredentials(f"environment variable {name} is not set")
        return environ[self.username_env], environ[self.password_env]


class _SmtpSchema(Schema):
    class Meta:
        unknown = RAISE

    host = fields.String(required=True, validate=validate.Length(min=1, max=253))
    # An integer, or text expanded from the environment (validated after expansion).
    port = fields.Raw(load_default=DEFAULT_PORT)
    security = fields.String(load_default=STARTTLS, validate=validate.OneOf(SECURITY_MODES))
    username_env = fields.String(validate=_ENV_NAME, load_default=None)
    password_env = fields.String(validate=_ENV_NAME, load_default=None)
    sender = fields.String(data_key="from", required=True, validate=validate.Length(max=320))
    reply_to = fields.String(validate=validate.Length(max=320), load_default=None)
    timeout_s = fields.Float(
        load_default=DEFAULT_TIMEOUT_S,
        validate=validate.Range(min=0, max=MAX_TIMEOUT_S, min_inclusive=False),
    )


class _FieldProblem(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name


def parse_smtp(
    entry: Any, source: str, *, local_only: bool, environ: Mapping[str, str] = os.environ
) -> SmtpConfig:
    """Validate the `[smtp]` table of `source` (a file name, for error messages)."""
    if not isinstance(entry, dict):
        raise EmailConfigError(f"{source}: smtp: must be a table ([smtp])")
    try:
        data: dict[str, Any] = _SmtpSchema().load(entry)
    except ValidationError as exc:
        problems = "; ".join(
            f"smtp.{name}: {describe(messages)}" for name, messages in exc.messages_dict.items()
        )
        raise EmailConfigError(f"{source}: {problems}") from None
    try:
        return _smtp_config(data, local_only, environ)
    except _FieldProblem as problem:
        raise EmailConfigError(f"{source}: smtp.{problem.field}: {problem}") from None


def _smtp_config(data: dict[str, Any], local_only: bool, environ: Mapping[str, str]) -> SmtpConfig:
    host = expand_env(data["host"], "host", environ)
    port = _port(data["port"], environ)
    if data["security"] == NONE and not (local_only or is_loopback(host)):
        raise _FieldProblem(
            "security", '"none" is only allowed for a loopback host or a local-only tenant'
        )
    if (data["username_env"] is None) != (data["password_env"] is None):
        missing = "password_env" if data["password_env"] is None else "username_env"
        raise _FieldProblem(missing, "username_env and password_env go together")
    sender_name, sender = _mailbox("from", data["sender"])
    reply_to = None
    if data["reply_to"] is not None:
        reply_to = format_mailbox(*_mailbox("reply_to", data["reply_to"]))
    return SmtpConfig(
        host=host,
        port=port,
        security=data["security"],
        sender_name=sender_name,
        sender=sender,
        reply_to=reply_to,
        username_env=data["username_env"],
        password_env=data["password_env"],
        timeout_s=float(data["timeout_s"]),
    )


def _mailbox(field_name: str, value: str) -> tuple[str, str]:
    try:
        return parse_mailbox(value)
    except MailboxError as exc:
        raise _FieldProblem(field_name, str(exc)) from None


def _port(raw: object, environ: Mapping[str, str]) -> int:
    if isinstance(raw, str):
        text = expand_env(raw, "port", environ)
        raw = int(text) if text.isdigit() else text
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise _FieldProblem("port", "must be a port number, 1 to 65535")
    return raw


def expand_env(text: str, field_name: str, environ: Mapping[str, str]) -> str:
    """`text` with $NAME, ${NAME} and ${NAME:-default} replaced from the environment."""

    def expand(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        value = environ.get(name)
        if value:
            return value
        if match.group(2) is not None:
            return match.group(2)
        raise _FieldProblem(field_name, f"environment variable {name} is not set")

    return _ENV_REFERENCE.sub(expand, text)


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine without a network (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
