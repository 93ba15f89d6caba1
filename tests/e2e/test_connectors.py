"""Connectors end to end, per shipped platform definition (config/tenants/demo/connectors/,
copies of config/connectors/): the platform's documented payload (tests/fixtures/connectors/)
posted with valid credentials runs the mapped action through the API and a real worker;
a bad secret or signature, a stale timestamp or a replayed signature gets 401 and writes
nothing; a payload lacking a mapped field gets 422 naming it. Outbound: a device
registration reaches the tool in its own shape, signed, retried after a 503, logged."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
import requests

from tests.support.api_client import ApiClient
from tests.support.apple import PUBLIC_URL, create_pass, issue_apple_pass
from tests.support.connectors import (
    CONNECTOR_ENV,
    SECRET_HEADER,
    ToolReceiver,
    fixture_bytes,
    hubspot_headers,
)
from tests.support.processes import wait_until

pytestmark = pytest.mark.usefixtures("worker")

KLAVIYO = "klaviyo-flow-webhook.json"
BRAZE = "braze-webhook.json"
HUBSPOT = "hubspot-workflow-contact.json"


def post(api_url: str, connector: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{api_url}/connect/demo/{connector}", data=body, headers=headers, timeout=10
    )


def shared_secret_headers(secret_env: str, secret: str | None = None) -> dict[str, str]:
    value = CONNECTOR_ENV[secret_env] if secret is None else secret
    return {"Content-Type": "application/json", SECRET_HEADER: value}


def post_hubspot(
    api_url: str, body: bytes, *, secret: str | None = None, at_ms: int | None = None
) -> requests.Response:
    key = CONNECTOR_ENV["HUBSPOT_CLIENT_SECRET"] if secret is None else secret
    uri = f"{PUBLIC_URL}/connect/demo/hubspot"  # the URL HubSpot calls, as it signs it
    return post(api_url, "hubspot", body, hubspot_headers(key, "POST", uri, body, at_ms=at_ms))


def pass_with_crm(demo: ApiClient, db: Any, crm: str, **body: Any) -> str:
    """The demo pass whose crm identifier is `crm` (made once per session)."""
    found = db.passes.find_one({"tenant": "demo", "identifiers.crm": crm}, {"_id": 1})
    if found is not None:
        return str(found["_id"])
    return create_pass(demo, identifiers={"crm": crm}, **body)


def snapshot(db: Any) -> tuple[int, int]:
    return db.operations.count_documents({}), db.passes.count_documents({})


def succeeded_once(demo: ApiClient, response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    accepted = response.json()
    operation = demo.wait_for_final(accepted["correlationId"])
    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert (counters["total"], counters["succeeded"], counters["failed"]) == (1, 1, 0), counters
    return {**accepted, "operation": operation}


def test_a_klaviyo_flow_webhook_issues_one_pass_per_profile(
    demo: ApiClient, db: Any, api_url: str
) -> None:
    payload = json.loads(fixture_bytes(KLAVIYO))
    headers = shared_secret_headers("KLAVIYO_CONNECTOR_SECRET")

    response = post(api_url, "klaviyo", fixture_bytes(KLAVIYO), headers)

    done = succeeded_once(demo, response)
    assert done["operation"]["kind"] == "create"
    stored = db.passes.find_one({"_id": done["passId"]})
    assert stored["passType"] == "loyalty"
    assert stored["identifiers"] == {"crm": payload["profile_id"]}
    assert stored["metadata"] == {"tier": "silver", "store": "Boston"}
    # The flow fires again for the same profile (or Klaviyo retries): the first answer again.
    again = post(api_url, "klaviyo", fixture_bytes(KLAVIYO), headers)
    assert again.status_code == 202, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["passId"] == done["passId"]
    assert db.passes.count_documents({"identifiers.crm": payload["profile_id"]}) == 1


def test_a_braze_webhook_sends_a_message_to_the_pass(
    demo: ApiClient, db: Any, api_url: str
) -> None:
    payload = json.loads(fixture_bytes(BRAZE))
    pass_id = pass_with_crm(demo, db, payload["external_id"])

    response = post(
        api_url, "braze", fixture_bytes(BRAZE), shared_secret_headers("BRAZE_CONNECTOR_SECRET")
    )

    done = succeeded_once(demo, response)
    assert done["passId"] == pass_id
    assert done["operation"]["kind"] == "pushUpdate"
    stored = db.passes.find_one({"_id": pass_id})
    assert payload["message"] in json.dumps(stored, default=str, ensure_ascii=False)


def test_a_signed_hubspot_workflow_webhook_updates_the_pass_once(
    demo: ApiClient, db: Any, api_url: str
) -> None:
    contact = json.loads(fixture_bytes(HUBSPOT))
    pass_id = pass_with_crm(demo, db, str(contact["vid"]), metadata={"tier": "bronze"})
    body = fixture_bytes(HUBSPOT)
    uri = f"{PUBLIC_URL}/connect/demo/hubspot"
    headers = hubspot_headers(CONNECTOR_ENV["HUBSPOT_CLIENT_SECRET"], "POST", uri, body)

    done = succeeded_once(demo, post(api_url, "hubspot", body, headers))

    assert done["passId"] == pass_id
    assert db.passes.find_one({"_id": pass_id})["metadata"]["tier"] == "gold"
    # The same signed request again, inside its 5 minutes: a replay, refused, nothing queued.
    before = snapshot(db)
    replayed = post(api_url, "hubspot", body, headers)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["errors"] == [
        {"field": "auth", "reason": "this signature was already used"}
    ]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("connector", "fixture", "headers"),
    [
        ("klaviyo", KLAVIYO, shared_secret_headers("KLAVIYO_CONNECTOR_SECRET", "wrong")),
        ("klaviyo", KLAVIYO, {"Content-Type": "application/json"}),
        ("braze", BRAZE, shared_secret_headers("BRAZE_CONNECTOR_SECRET", "wrong")),
        # Another connector's secret opens only that connector.
        ("braze", BRAZE, shared_secret_headers("KLAVIYO_CONNECTOR_SECRET")),
    ],
)
def test_a_wrong_shared_secret_is_401_and_nothing_is_written(
    db: Any, api_url: str, connector: str, fixture: str, headers: dict[str, str]
) -> None:
    before = snapshot(db)
    response = post(api_url, connector, fixture_bytes(fixture), headers)
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["field"] == "auth"
    assert snapshot(db) == before


def test_a_bad_or_stale_hubspot_signature_is_401_and_nothing_is_written(
    db: Any, api_url: str
) -> None:
    body = fixture_bytes(HUBSPOT)
    before = snapshot(db)
    stale_ms = int((time.time() - 6 * 60) * 1000)  # outside HubSpot's 5 minutes
    answers = [
        post_hubspot(api_url, body, secret="not-the-client-secret"),
        post_hubspot(api_url, body, at_ms=stale_ms),
        # Signed, then altered: the body is part of the signature.
        post(
            api_url,
            "hubspot",
            body.replace(b'"gold"', b'"platinum"'),
            hubspot_headers(
                CONNECTOR_ENV["HUBSPOT_CLIENT_SECRET"],
                "POST",
                f"{PUBLIC_URL}/connect/demo/hubspot",
                body,
            ),
        ),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401], [a.text for a in answers]
    reasons = [a.json()["errors"][0]["reason"] for a in answers]
    assert "outside the tolerance" in reasons[1]
    assert snapshot(db) == before


def _without(fixture: str, *path: str) -> bytes:
    payload = json.loads(fixture_bytes(fixture))
    holder = payload
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return json.dumps(payload).encode()


def test_a_payload_missing_a_mapped_field_is_422_naming_it(db: Any, api_url: str) -> None:
    before = snapshot(db)
    klaviyo = post(
        api_url,
        "klaviyo",
        _without(KLAVIYO, "loyalty_tier"),
        shared_secret_headers("KLAVIYO_CONNECTOR_SECRET"),
    )
    braze = post(
        api_url,
        "braze",
        _without(BRAZE, "external_id"),
        shared_secret_headers("BRAZE_CONNECTOR_SECRET"),
    )
    hubspot = post_hubspot(api_url, _without(HUBSPOT, "properties", "membership_tier"))

    answers = {"klaviyo": klaviyo, "braze": braze, "hubspot": hubspot}
    assert {k: a.status_code for k, a in answers.items()} == dict.fromkeys(answers, 422)
    fields = {k: a.json()["errors"] for k, a in answers.items()}
    assert fields == {
        "klaviyo": [{"field": "payload.loyalty_tier", "reason": "missing from the payload"}],
        "braze": [{"field": "payload.external_id", "reason": "missing from the payload"}],
        "hubspot": [
            {"field": "payload.properties.membership_tier", "reason": "missing from the payload"}
        ],
    }
    assert snapshot(db) == before


def test_an_unknown_connector_is_404(api_url: str) -> None:
    response = post(api_url, "salesforce", b"{}", {"Content-Type": "application/json"})
    assert response.status_code == 404, response.text


def test_an_install_reaches_the_tool_in_its_shape_signed_retried_and_logged(
    demo: ApiClient, db: Any, api_url: str, connector_tool: ToolReceiver
) -> None:
    device = issue_apple_pass(demo, api_url)

    assert device.register().status_code == 201

    def delivered() -> dict[str, Any] | None:
        document: dict[str, Any] | None = db.webhook_deliveries.find_one(
            {
                "endpoint.id": "connector-hubspot",
                "type": "pass.installed",
                "status": "delivered",
                "body": {"$regex": device.serial},
            }
        )
        return document

    document = wait_until(delivered, 30, what="the install to reach the tool")
    assert (
        db.webhook_deliveries.count_documents(
            {"endpoint.id": "connector-hubspot", "body": {"$regex": device.serial}}
        )
        == 1
    )
    assert [a["status"] for a in document["history"]] == [503, 200]
    seen = connector_tool.for_delivery(document["_id"])
    assert [r.status for r in seen] == [503, 200]
    assert all(r.verified for r in seen)
    assert {r.path for r in seen} == {"/hubspot"}
    [upsert] = seen[-1].body["inputs"]
    assert upsert["idProperty"] == "passwire_pass_id"
    assert upsert["id"] == device.serial
    properties = upsert["properties"]
    assert (properties["passwire_last_event"], properties["passwire_wallet"]) == (
        "pass.installed",
        "apple",
    )
    # In the delivery log like any webhook.
    listed = demo.session.get(
        demo.url("/webhooks/deliveries"), params={"endpoint": "connector-hubspot"}, timeout=10
    )
    assert listed.status_code == 200, listed.text
    ids = [d["deliveryId"] for d in listed.json()["deliveries"]]
    assert document["_id"] in ids


def test_a_redemption_reaches_the_tool_once(
    demo: ApiClient, db: Any, connector_tool: ToolReceiver
) -> None:
    pass_id = create_pass_of(demo, "voucher", identifiers={"code": secrets.token_hex(6)})

    redeemed = demo.session.post(demo.url(f"/passes/{pass_id}/redeem"), json={}, timeout=10)
    assert redeemed.status_code == 202, redeemed.text
    again = demo.session.post(demo.url(f"/passes/{pass_id}/redeem"), json={}, timeout=10)
    assert again.status_code == 409, again.text

    def delivered() -> dict[str, Any] | None:
        document: dict[str, Any] | None = db.webhook_deliveries.find_one(
            {"endpoint.id": "connector-hubspot", "type": "pass.redeemed", "status": "delivered",
             "body": {"$regex": pass_id}}
        )  # fmt: skip
        return document

    document = wait_until(delivered, 30, what="the redemption to reach the tool")
    assert document["correlationId"] == redeemed.json()["correlationId"]
    query = {
        "endpoint.id": "connector-hubspot",
        "type": "pass.redeemed",
        "body": {"$regex": pass_id},
    }
    assert db.webhook_deliveries.count_documents(query) == 1
    [upsert] = connector_tool.for_delivery(document["_id"])[-1].body["inputs"]
    assert (upsert["id"], upsert["properties"]["passwire_last_event"]) == (pass_id, "pass.redeemed")


def create_pass_of(demo: ApiClient, pass_type: str, **body: Any) -> str:
    response = demo.create_pass(pass_type, **body)
    assert response.status_code == 202, response.text
    assert demo.wait_for_final(response.json()["correlationId"])["status"] == "completed"
    return str(response.json()["passId"])
