"""Webhook endpoints of a tenant, from `[[webhooks]]` entries in its tenant.toml:

    [[webhooks]]
    id = "crm"
    url = "https://crm.example.com/passwire"
    events = ["pass.created", "pass.updated"]   # or ["*"]
    secret_env = "DEMO_WEBHOOK_SECRET"          # the signing secret's environment variable

The signing secret is never stored in configuration, only the name of the variable holding it.
A connector's `[outbound]` table (shared/connectors/config.py) is an endpoint too, with a body
template: its deliveries carry the event in the tool's own shape instead of ours.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from shared.apple.templates import JsonTemplate
from shared.tenancy.config_tables import load_tables

PASS_CREATED = "pass.created"
PASS_UPDATED = "pass.updated"
PASS_INSTALLED = "pass.installed"
PASS_UNINSTALLED = "pass.uninstalled"
PASS_REDEEMED = "pass.redeemed"
OPERATION_COMPLETED = "operation.completed"
# An Apple certificate is 30, 7 or 1 days from its end (shared/apple/expiry_alerts.py).
CERTIFICATE_EXPIRING = "certificate.expiring"
EVENT_TYPES = (
    PASS_CREATED,
    PASS_UPDATED,
    PASS_INSTALLED,
    PASS_UNINSTALLED,
    PASS_REDEEMED,
    OPERATION_COMPLETED,
    CERTIFICATE_EXPIRING,
)
ALL_EVENTS = "*"


class WebhookConfigError(ValueError):
    """A `[[webhooks]]` entry is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    events: frozenset[str]
    secret_env: str
    # Renders the body from `event` (the standard body, parsed) when set: a connector's shape.
    body_template: JsonTemplate | None = field(default=None, compare=False)

    def subscribes_to(self, event_type: str) -> bool:
        return ALL_EVENTS in self.events or event_type in self.events

    def secret(self, environ: Mapping[str, str] = os.environ) -> str | None:
        """The signing secret, read from the environment when needed (None when unset)."""
        return environ.get(self.secret_env) or None


class WebhookEndpointSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,62}$"))
    url = fields.String(
        required=True,
        validate=[
            validate.Length(max=2048),
            validate.URL(relative=False, schemes={"http", "https"}, require_tld=False),
        ],
    )
    events = fields.List(
        fields.String(validate=validate.OneOf((*EVENT_TYPES, ALL_EVENTS))),
        required=True,
        validate=validate.Length(min=1),
    )
    secret_env = fields.String(required=True, validate=validate.Regexp(r"^[A-Z_][A-Z0-9_]{0,127}$"))

    @validates("events")
    def _all_alone(self, value: list[str], **_: Any) -> None:
        if ALL_EVENTS in value and len(value) > 1:
            raise ValidationError('"*" already means every event; list nothing beside it.')


def parse_webhooks(entries: Any, source: str) -> tuple[WebhookEndpoint, ...]:
    """Validate the `[[webhooks]]` array of `source` (a file name, for error messages)."""
    endpoints: list[WebhookEndpoint] = []
    tables = load_tables(entries, "webhooks", WebhookEndpointSchema(), source, WebhookConfigError)
    for where, data in tables:
        if any(endpoint.id == data["id"] for endpoint in endpoints):
            raise WebhookConfigError(
                f"{source}: {where}.id: {data['id']!r} is used by another endpoint"
            )
        endpoints.append(
            WebhookEndpoint(
                id=data["id"],
                url=data["url"],
                events=frozenset(data["events"]),
                secret_env=data["secret_env"],
            )
        )
    return tuple(endpoints)
