"""A connector's outbound endpoint: its deliveries carry the template's rendering of the event
(the same bytes on every attempt); a template that cannot render is a failed delivery in the
log, never sent, and the other endpoints still get the event."""

from __future__ import annotations

import json
import secrets
from typing import Any

from shared.connectors.templates import EVENT, parse_rooted
from shared.infra.clock import utcnow
from shared.repositories.erasure import erase_traces
from shared.webhooks.config import WebhookEndpoint
from shared.webhooks.events import emit


def _endpoint(body: str | None) -> WebhookEndpoint:
    template = None if body is None else parse_rooted(body, "t", EVENT)
    return WebhookEndpoint(
        id=f"tool-{secrets.token_hex(4)}",
        url="http://127.0.0.1:9/tool",
        events=frozenset({"pass.installed"}),
        secret_env="UNUSED",
        body_template=template,
    )


def test_each_endpoint_gets_its_own_shape_and_a_broken_template_fails_alone(db: Any) -> None:
    shaped = _endpoint('{"profile": "{{ event.data.passId }}", "what": "{{ event.type }}"}')
    broken = _endpoint('{"email": "{{ event.data.email }}"}')
    plain = _endpoint(None)

    ids = emit(
        db, "demo", [shaped, broken, plain], "pass.installed", {"passId": "P-9"}, now=utcnow()
    )

    documents = {
        e.id: db.webhook_deliveries.find_one({"endpoint.id": e.id}) for e in (shaped, plain)
    }
    assert sorted(ids) == sorted(documents[e.id]["_id"] for e in (shaped, plain))
    assert json.loads(documents[shaped.id]["body"]) == {"profile": "P-9", "what": "pass.installed"}
    assert json.loads(documents[plain.id]["body"])["data"] == {"passId": "P-9"}
    failed = db.webhook_deliveries.find_one({"endpoint.id": broken.id})
    assert failed["status"] == "failed"
    assert failed["attempts"] == 0
    assert "event.data.email is undefined" in failed["lastError"]


def test_erasing_a_pass_erases_its_deliveries_in_any_shape(db: Any) -> None:
    pass_id = f"P-{secrets.token_hex(6)}"
    unquoted = _endpoint('{"note": "pass {{ event.data.passId }} is in a wallet"}')
    [delivery_id] = emit(
        db, "demo", [unquoted], "pass.installed", {"passId": pass_id}, now=utcnow()
    )
    assert db.webhook_deliveries.find_one({"_id": delivery_id}) is not None

    erase_traces(db, "demo", pass_id)

    assert db.webhook_deliveries.find_one({"_id": delivery_id}) is None
