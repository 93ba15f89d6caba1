"""Consent and message kinds at the API: `PUT …/passes/{passId}/consent` records a holder's
marketing consent with an audit trail, PATCH and create carry it too, and bad input (a consent
of the wrong shape, an unknown message kind, malformed quiet hours) is a 422 naming the field,
with nothing written and nothing queued. Erasing a pass removes its audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config.celery import BULK_QUEUE, INTERACTIVE_QUEUE
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.repositories import consent_changes, erasure
from tests.conftest import DEMO_KEY

HEADERS = {"X-API-Key": DEMO_KEY}
GRANTED = {"marketing": {"granted": True, "at": "2030-01-02T10:00:00+00:00", "source": "till"}}


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def pass_id(db: Any) -> str:
    now, pass_id = utcnow(), new_pass_id()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": "demo", "passType": "loyalty", "identifiers": {},
         "metadata": {}, "additionalData": {}, "version": 1, "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    return pass_id


@pytest.fixture
def nothing_written(db: Any, broker_url: str, pass_id: str) -> Iterator[None]:
    queue = redis.Redis.from_url(broker_url)

    def snapshot() -> tuple[int, ...]:
        return (
            db.operations.count_documents({}),
            db.passes.count_documents({}),
            db[consent_changes.COLLECTION].count_documents({}),
            queue.llen(BULK_QUEUE),
            queue.llen(INTERACTIVE_QUEUE),
        )

    before = snapshot()
    yield
    assert snapshot() == before


def fields(response: Any) -> set[str]:
    return {error["field"] for error in response.get_json()["errors"]}


def test_the_consent_endpoint_records_consent_and_its_audit_trail(
    client: Any, db: Any, pass_id: str
) -> None:
    url = f"/api/demo/passes/{pass_id}/consent"
    assert client.get(url, headers=HEADERS).get_json() == {
        "passId": pass_id,
        "consent": {},
        "history": [],
    }

    granted = client.put(url, json=GRANTED, headers=HEADERS)
    assert granted.status_code == 200, granted.get_json()
    refused = client.put(url, json={"marketing": {"granted": False}}, headers=HEADERS)
    assert refused.status_code == 200, refused.get_json()

    view = client.get(url, headers=HEADERS).get_json()
    assert view["consent"]["marketing"]["granted"] is False
    assert view["consent"]["marketing"]["source"] == "api"  # the default source
    history = view["history"]
    assert [h["marketing"]["granted"] for h in history] == [True, False]
    assert history[0]["marketing"]["source"] == "till"
    assert history[0]["marketing"]["at"].startswith("2030-01-02T10:00:00")
    assert {h["who"] for h in history} == {"config-key:local-demo"}
    assert {h["via"] for h in history} == {"consent"}
    stored = db.passes.find_one({"_id": pass_id})
    assert stored["consent"]["marketing"]["granted"] is False
    assert stored["version"] == 1  # not rendered: a running campaign is not disturbed


def test_patch_records_consent_at_once(client: Any, db: Any, pass_id: str) -> None:
    response = client.patch(
        f"/api/demo/passes/{pass_id}", json={"consent": GRANTED}, headers=HEADERS
    )
    assert response.status_code == 202, response.get_json()
    assert db.passes.find_one({"_id": pass_id})["consent"]["marketing"]["granted"] is True
    [change] = consent_changes.for_pass(db, "demo", pass_id)
    assert (change["via"], change["who"]) == ("patch", "config-key:local-demo")
    # The update job carries the rest of the patch only.
    operation = db.operations.find_one({"_id": response.get_json()["correlationId"]})
    assert "consent" not in operation["intent"]["patch"]


def test_create_carries_consent_to_the_job(client: Any, db: Any) -> None:
    response = client.post(
        "/api/demo/passes?passType=loyalty", json={"consent": GRANTED}, headers=HEADERS
    )
    assert response.status_code == 202, response.get_json()
    intent = db.operations.find_one({"_id": response.get_json()["correlationId"]})["intent"]
    assert intent["consent"]["marketing"]["granted"] is True
    assert intent["consentBy"] == "config-key:local-demo"


def test_unknown_pass_is_404(client: Any) -> None:
    response = client.put(
        f"/api/demo/passes/{new_pass_id()}/consent", json=GRANTED, headers=HEADERS
    )
    assert response.status_code == 404


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "marketing"),
        ({"marketing": {}}, "marketing.granted"),
        ({"marketing": {"granted": "yes"}}, "marketing.granted"),
        ({"marketing": {"granted": 1}}, "marketing.granted"),
        ({"marketing": {"granted": True, "at": "yesterday"}}, "marketing.at"),
        ({"marketing": {"granted": True, "source": ""}}, "marketing.source"),
        ({"marketing": {"granted": True, "why": "x"}}, "marketing.why"),
        ({"marketing": True}, "marketing._schema"),
        ({"sms": {"granted": True}}, "sms"),
    ],
)
def test_consent_of_a_wrong_shape_is_422(client: Any, pass_id: str, body: Any, field: str) -> None:
    for method, url, wrapped in (
        (client.put, f"/api/demo/passes/{pass_id}/consent", body),
        (client.patch, f"/api/demo/passes/{pass_id}", {"consent": body}),
        (client.post, "/api/demo/passes?passType=loyalty", {"consent": body}),
    ):
        response = method(url, json=wrapped, headers=HEADERS)
        assert response.status_code == 422, response.get_json()
        expected = field if wrapped is body else f"consent.{field}"
        assert expected in fields(response), response.get_json()


MESSAGE = {"content": "Double points", "kind": "marketing"}


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"message": {**MESSAGE, "kind": "promo"}}, "message.kind"),
        ({"message": MESSAGE, "quietHours": {"start": "22:00", "end": "31:00"}}, "quietHours"),
        (
            {
                "message": MESSAGE,
                "quietHours": {"start": "22:00", "end": "07:00", "timeZone": "Moon/Base"},
            },
            "quietHours",
        ),
        ({"message": MESSAGE, "quietHours": "22:00-07:00"}, "quietHours"),
        ({"message": MESSAGE, "quietHours": {"start": "22:00"}}, "quietHours"),
    ],
)
def test_unknown_kind_and_malformed_quiet_hours_are_422(
    client: Any, pass_id: str, extra: Any, field: str
) -> None:
    for url, body in (
        ("/api/demo/push-updates", {"filter": {"ids": [pass_id]}, **extra}),
        (f"/api/demo/passes/{pass_id}/notification", extra),
        ("/api/demo/passes/notification?id=" + pass_id, extra),
    ):
        response = (
            client.put(url, json=body, headers=HEADERS)
            if "notification" in url
            else client.post(url, json=body, headers=HEADERS)
        )
        assert response.status_code == 422, (url, response.get_json())
        assert field in fields(response), response.get_json()


def test_a_campaign_keeps_its_kind_and_quiet_hours(client: Any, db: Any, pass_id: str) -> None:
    quiet = {"start": "22:00", "end": "07:00", "timeZone": "Europe/Paris"}
    body = {"filter": {"ids": [pass_id]}, "message": MESSAGE, "quietHours": quiet}
    response = client.post("/api/demo/push-updates", json=body, headers=HEADERS)
    assert response.status_code == 202, response.get_json()
    operation = db.operations.find_one({"_id": response.get_json()["correlationId"]})
    assert (operation["message"]["kind"], operation["quietHours"]) == ("marketing", quiet)
    # Without a kind, a message is transactional; without quietHours, the tenant's apply.
    plain = client.put(
        f"/api/demo/passes/{pass_id}/notification",
        json={"message": {"content": "Hi"}},
        headers=HEADERS,
    )
    operation = db.operations.find_one({"_id": plain.get_json()["correlationId"]})
    assert operation["message"]["kind"] == "transactional"
    assert "quietHours" not in operation


def test_erasing_a_pass_removes_its_consent_trail_and_deferred_alerts(
    client: Any, db: Any, pass_id: str
) -> None:
    client.put(f"/api/demo/passes/{pass_id}/consent", json=GRANTED, headers=HEADERS)
    db.deferred_alerts.insert_one({"_id": f"op:{pass_id}", "tenant": "demo", "passId": pass_id})
    assert consent_changes.for_pass(db, "demo", pass_id)

    erased = erasure.erase_traces(db, "demo", pass_id)

    assert erased[consent_changes.COLLECTION] == 1
    assert erased["deferred_alerts"] == 1
    assert consent_changes.for_pass(db, "demo", pass_id) == []
