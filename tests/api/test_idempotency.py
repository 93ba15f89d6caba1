"""`Idempotency-Key` on POST/PUT/PATCH: a repeat within 24 h returns the original correlationId
and does the work once."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from shared.credentials.api_keys import issue_key
from shared.infra.clock import utcnow
from tests.conftest import DEMO_KEY

URL = "/api/demo/passes?passType=loyalty"


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def _post(client: Any, key: str, body: dict[str, Any]) -> Any:
    return client.post(URL, json=body, headers={"X-API-Key": DEMO_KEY, "Idempotency-Key": key})


def test_a_repeat_returns_the_original_answer(client: Any, db: Any) -> None:
    key = secrets.token_hex(8)
    operations_before = db.operations.count_documents({})
    first = _post(client, key, {"metadata": {"store": "7"}})
    second = _post(client, key, {"metadata": {"store": "7"}})
    assert first.status_code == second.status_code == 202
    assert second.get_json() == first.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert db.operations.count_documents({}) == operations_before + 1  # the work was done once
    assert db.idempotency_keys.count_documents({"_id": f"demo:config-key:local-demo:{key}"}) == 1


def test_the_same_key_for_another_request_is_422(client: Any, db: Any) -> None:
    key = secrets.token_hex(8)
    assert _post(client, key, {"metadata": {"store": "7"}}).status_code == 202
    operations_before = db.operations.count_documents({})
    reused = _post(client, key, {"metadata": {"store": "8"}})
    assert reused.status_code == 422
    assert reused.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert db.operations.count_documents({}) == operations_before


def test_a_key_older_than_a_day_starts_afresh(client: Any, db: Any) -> None:
    key = secrets.token_hex(8)
    first = _post(client, key, {}).get_json()
    db.idempotency_keys.update_one(
        {"_id": f"demo:config-key:local-demo:{key}"},
        {"$set": {"createdAt": utcnow() - timedelta(hours=25)}},
    )
    second = _post(client, key, {}).get_json()
    assert second["correlationId"] != first["correlationId"]


def test_a_request_still_running_is_409(client: Any, db: Any) -> None:
    key = secrets.token_hex(8)
    assert _post(client, key, {}).status_code == 202
    # As if the first request with this key were still being processed.
    db.idempotency_keys.update_one(
        {"_id": f"demo:config-key:local-demo:{key}"}, {"$set": {"state": "in_progress"}}
    )
    response = _post(client, key, {})
    assert response.status_code == 409
    assert response.get_json()["errors"][0]["reason"] == "in progress"


def test_a_refused_request_is_replayed_as_refused(client: Any, db: Any) -> None:
    key = secrets.token_hex(8)
    first = _post(client, key, {"colour": "red"})
    second = _post(client, key, {"colour": "red"})
    assert first.status_code == second.status_code == 422
    assert second.get_json() == first.get_json()


def test_an_invalid_key_is_400(client: Any) -> None:
    response = _post(client, "x" * 300, {})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_caller_who_may_not_do_the_request_cannot_claim_or_replay(client: Any, db: Any) -> None:
    reader = issue_key(
        db, tenant_id="demo", name="reader-only", scopes=frozenset({"Pass.Read"}), now=utcnow()
    )
    key = secrets.token_hex(8)
    refused = client.post(
        URL, json={}, headers={"X-API-Key": reader.plaintext, "Idempotency-Key": key}
    )
    assert refused.status_code == 403
    # The key was not taken: the real caller's request runs.
    first = _post(client, key, {})
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    # Another credential of the same tenant repeating the request does not get that answer.
    writer = issue_key(
        db, tenant_id="demo", name="writer", scopes=frozenset({"Pass.Write"}), now=utcnow()
    )
    other = client.post(
        URL, json={}, headers={"X-API-Key": writer.plaintext, "Idempotency-Key": key}
    )
    assert other.status_code == 202
    assert other.get_json()["correlationId"] != first.get_json()["correlationId"]
