"""`POST /api/<tenantId>/passes/<passId>/email`: a bad address (or body) is refused naming
the field, without repeating the address, and nothing is written or queued; an accepted
request keeps the address in its operation's intent only, for the job."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config.celery import INTERACTIVE_QUEUE
from config.settings import Settings
from shared import operations
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.links import SECRET_ENV
from tests.conftest import DEMO_KEY, RIVAL_KEY

HEADERS = {"X-API-Key": DEMO_KEY}
ADDRESS = "ada.lovelace@example.com"


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="module")
def pass_id(db: Any) -> str:
    """A demo loyalty pass (as stored; no job needed to email it)."""
    now, pass_id = utcnow(), new_pass_id()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": "demo", "passType": "loyalty", "identifiers": {},
         "metadata": {}, "additionalData": {}, "version": 1, "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    return pass_id


@pytest.fixture
def nothing_written(db: Any, broker_url: str) -> Iterator[None]:
    """Fails the test if operations, passes or queued jobs change."""
    queue = redis.Redis.from_url(broker_url)

    def snapshot() -> tuple[int, ...]:
        return (
            db.operations.count_documents({}),
            db.passes.count_documents({}),
            queue.llen(INTERACTIVE_QUEUE),
        )

    before = snapshot()
    yield
    assert snapshot() == before


def _url(pass_id: str, tenant: str = "demo") -> str:
    return f"/api/{tenant}/passes/{pass_id}/email"


def _fields(response: Any) -> dict[str, str]:
    body = response.get_json()
    assert set(body) == {"status", "code", "message", "errors"}
    assert body["status"] == response.status_code
    return {error["field"]: error["reason"] for error in body["errors"]}


@pytest.mark.usefixtures("nothing_written")
class TestRefusedRequests:
    @pytest.mark.parametrize(
        "to",
        [
            "",
            "ada",
            "Ada Lovelace <ada.lovelace@example.com>",
            "ada.lovelace@example.com, bob@example.com",
            "ada.lovelace@example.com\r\nBcc: eve@example.com",
            "ada.lovelace@localhost",
            "ada..lovelace@example.com",
            "adä.lovelace@example.com",
            f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 58}.com",  # 255 characters
        ],
    )
    def test_a_bad_address_names_to_and_is_not_echoed(
        self, client: Any, pass_id: str, to: str
    ) -> None:
        response = client.post(_url(pass_id), json={"to": to}, headers=HEADERS)
        assert response.status_code == 422
        assert set(_fields(response)) == {"to"}
        if to:
            assert to.encode() not in response.data and b"lovelace" not in response.data

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "to"),
            ({"to": ["ada@example.com"]}, "to"),
            ({"to": 42}, "to"),
            ({"to": ADDRESS, "cc": "eve@example.com"}, "cc"),
            ({"to": ADDRESS, "language": "french!"}, "language"),
            ({"to": ADDRESS, "language": ""}, "language"),
            ({"to": ADDRESS, "name": "Ada\nBcc: eve@example.com"}, "name"),
            ({"to": ADDRESS, "name": ""}, "name"),
            ({"to": ADDRESS, "name": "A" * 101}, "name"),
        ],
    )
    def test_other_bad_fields_are_named(
        self, client: Any, pass_id: str, body: dict[str, Any], field: str
    ) -> None:
        response = client.post(_url(pass_id), json=body, headers=HEADERS)
        assert response.status_code == 422
        assert set(_fields(response)) == {field}

    def test_the_answer_kept_for_an_idempotency_key_holds_no_address(
        self, client: Any, db: Any, pass_id: str
    ) -> None:
        key = secrets.token_hex(8)
        bad = "ada lovelace@example.com"
        response = client.post(
            _url(pass_id), json={"to": bad}, headers={**HEADERS, "Idempotency-Key": key}
        )
        assert response.status_code == 422 and set(_fields(response)) == {"to"}
        [record] = db.idempotency_keys.find({"_id": {"$regex": f":{key}$"}})
        assert "lovelace" not in str(record)  # the answer, and a hash of the request

    def test_an_unknown_pass_is_404(self, client: Any) -> None:
        response = client.post(_url(new_pass_id()), json={"to": ADDRESS}, headers=HEADERS)
        assert response.status_code == 404 and set(_fields(response)) == {"passId"}

    def test_a_tenant_without_smtp_is_409_naming_smtp(self, client: Any) -> None:
        headers = {"X-API-Key": RIVAL_KEY}
        response = client.post(_url(new_pass_id(), "rival"), json={"to": ADDRESS}, headers=headers)
        assert response.status_code == 409
        assert _fields(response) == {"smtp": "not configured for this tenant"}

    def test_without_a_link_secret_nothing_is_queued(
        self, app: Any, settings: Settings, pass_id: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        unusable = dataclasses.replace(settings, link_secret="too-short")  # configured, unusable
        monkeypatch.setitem(app.extensions, "passwire.settings", unusable)
        response = app.test_client().post(_url(pass_id), json={"to": ADDRESS}, headers=HEADERS)
        assert response.status_code == 503 and set(_fields(response)) == {SECRET_ENV}


@pytest.fixture
def accepted(db: Any, broker_url: str) -> Iterator[tuple[list[str], Any]]:
    """(correlationIds of accepted requests, the interactive queue): the operations are
    cancelled afterwards, so a worker started by a later test skips their jobs."""
    correlation_ids: list[str] = []
    yield correlation_ids, redis.Redis.from_url(broker_url)
    for correlation_id in correlation_ids:
        operations.request_cancel(db, "demo", correlation_id)
        assert "intent" not in db.operations.find_one({"_id": correlation_id})


@pytest.mark.parametrize(
    "languages",
    # (requested, chosen): the tenant has en and fr templates.
    [(None, "en"), ("fr", "fr"), ("fr-CA", "fr"), ("FR", "fr"), ("de", "en")],
)
def test_accepted_the_address_is_in_the_intent_only(
    client: Any,
    db: Any,
    pass_id: str,
    accepted: tuple[list[str], Any],
    languages: tuple[str | None, str],
) -> None:
    (language, chosen), (correlation_ids, queue) = languages, accepted
    body = {"to": ADDRESS, "name": "Ada"} | ({"language": language} if language else {})
    queued = queue.llen(INTERACTIVE_QUEUE)
    response = client.post(_url(pass_id), json=body, headers=HEADERS)
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    correlation_ids.append(answer["correlationId"])
    assert answer == {"correlationId": answer["correlationId"], "passId": pass_id}
    assert response.headers["Location"] == f"/api/demo/operations/{answer['correlationId']}"
    assert ADDRESS.encode() not in response.data
    operation = db.operations.find_one({"_id": answer["correlationId"]})
    assert operation["kind"] == "email" and operation["status"] == "queued"
    assert operation["intent"] == {"passId": pass_id, "to": ADDRESS, "language": chosen,
                                   "name": "Ada"}  # fmt: skip
    assert queue.llen(INTERACTIVE_QUEUE) == queued + 1
    # The operation as callers see it never shows the intent.
    shown = client.get(f"/api/demo/operations/{answer['correlationId']}", headers=HEADERS)
    assert shown.status_code == 200 and ADDRESS.encode() not in shown.data
    listed = client.get("/api/demo/operations?kind=email&pageSize=200", headers=HEADERS)
    assert answer["correlationId"] in {o["correlationId"] for o in listed.get_json()}
