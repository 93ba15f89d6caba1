"""`PUT /api/<tenantId>/passes/<passId>/notification`: a campaign of one pass. Refused bodies
and unknown passes write and queue nothing; an accepted one is a push-update operation whose
segment is exactly that pass (the worker's side: tests/e2e/test_pass_notification.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config.celery import BULK_QUEUE
from shared import operations
from shared.campaigns import PUSH_UPDATE
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from tests.conftest import DEMO_KEY, RIVAL_KEY

HEADERS = {"X-API-Key": DEMO_KEY}
MESSAGE = {"content": "Double points today", "localizedContent": {"fr": "Points doublés"}}


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="module")
def pass_id(db: Any) -> str:
    """A demo loyalty pass, as stored (the route reads nothing else)."""
    now, pass_id = utcnow(), new_pass_id()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": "demo", "passType": "loyalty", "identifiers": {},
         "metadata": {}, "additionalData": {}, "version": 1, "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    return pass_id


@pytest.fixture
def queue(broker_url: str) -> Any:
    return redis.Redis.from_url(broker_url)


@pytest.fixture
def nothing_written(db: Any, queue: Any) -> Iterator[None]:
    def snapshot() -> tuple[int, ...]:
        return (
            db.operations.count_documents({}),
            db.passes.count_documents({}),
            queue.llen(BULK_QUEUE),
        )

    before = snapshot()
    yield
    assert snapshot() == before


def _url(pass_id: str, tenant: str = "demo") -> str:
    return f"/api/{tenant}/passes/{pass_id}/notification"


def _fields(response: Any) -> set[str]:
    return {error["field"] for error in response.get_json()["errors"]}


@pytest.mark.usefixtures("nothing_written")
class TestRefused:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "message"),
            ({"data": {"additionalData": {"points": 1}}}, "message"),
            ({"message": {}}, "message.content"),
            ({"message": {"content": ""}}, "message.content"),
            ({"message": {"content": "x" * 2049}}, "message.content"),
            ({"message": {"content": "Hi", "localizedContent": {"French!": "Salut"}}},
             "message.localizedContent.French!.key"),
            ({"message": {"content": "Hi", "header": "x"}}, "message.header"),
            ({"message": MESSAGE, "data": {"points": 1}}, "data.points"),
            ({"message": MESSAGE, "filter": {}}, "filter"),
        ],
    )  # fmt: skip
    def test_a_bad_body_names_the_field(
        self, client: Any, pass_id: str, body: dict[str, Any], field: str
    ) -> None:
        response = client.put(_url(pass_id), json=body, headers=HEADERS)
        assert response.status_code == 422, response.get_json()
        assert _fields(response) == {field}

    def test_an_unknown_pass_is_404(self, client: Any) -> None:
        response = client.put(_url(new_pass_id()), json={"message": MESSAGE}, headers=HEADERS)
        assert response.status_code == 404
        assert _fields(response) == {"passId"}

    def test_another_tenants_pass_is_404_to_its_key(self, client: Any, pass_id: str) -> None:
        headers = {"X-API-Key": RIVAL_KEY}
        response = client.put(_url(pass_id, "rival"), json={"message": MESSAGE}, headers=headers)
        assert response.status_code == 404


@pytest.fixture
def started(db: Any) -> Iterator[list[str]]:
    """correlationIds to cancel afterwards: a worker started by a later test skips them."""
    correlation_ids: list[str] = []
    yield correlation_ids
    for correlation_id in correlation_ids:
        operations.request_cancel(db, "demo", correlation_id)


def test_accepted_it_is_a_campaign_of_that_one_pass(
    client: Any, db: Any, queue: Any, pass_id: str, started: list[str]
) -> None:
    queued = queue.llen(BULK_QUEUE)
    patch = {"additionalData": {"points": 12, "tier": None}}
    body = {"message": MESSAGE, "data": patch}
    response = client.put(_url(pass_id), json=body, headers=HEADERS)
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    started.append(answer["correlationId"])
    assert answer == {"correlationId": answer["correlationId"], "passId": pass_id}
    assert response.headers["Location"] == f"/api/demo/operations/{answer['correlationId']}"

    operation = db.operations.find_one({"_id": answer["correlationId"]})
    assert (operation["kind"], operation["status"]) == (PUSH_UPDATE, "queued")
    assert operation["intent"]["segment"]["ids"] == [pass_id]
    assert operation["intent"]["segment"]["passTypes"] == []  # nothing else narrows it
    assert operation["intent"]["patch"] == patch
    assert operation["message"] == {**MESSAGE, "kind": "transactional"}  # the default kind
    assert queue.llen(BULK_QUEUE) == queued + 1  # its planning job


def test_without_data_the_patch_is_empty(
    client: Any, db: Any, pass_id: str, started: list[str]
) -> None:
    body = {"message": {"content": "See you soon"}}
    response = client.put(_url(pass_id), json=body, headers=HEADERS)
    assert response.status_code == 202, response.get_json()
    started.append(response.get_json()["correlationId"])
    operation = db.operations.find_one({"_id": started[-1]})
    assert operation["intent"]["patch"] == {}
    assert operation["message"] == {
        "content": "See you soon",
        "localizedContent": {},
        "kind": "transactional",
    }


def test_a_retry_with_the_same_idempotency_key_sends_the_message_once(
    client: Any, db: Any, queue: Any, pass_id: str, started: list[str]
) -> None:
    """A CRM that lost the first answer retries: the holder must not get the message twice."""
    headers = {**HEADERS, "Idempotency-Key": f"notify-{pass_id}"}
    body = {"message": {"content": "Your table is ready"}}
    queued, operations_before = queue.llen(BULK_QUEUE), db.operations.count_documents({})
    first = client.put(_url(pass_id), json=body, headers=headers)
    assert first.status_code == 202, first.get_json()
    started.append(first.get_json()["correlationId"])
    retry = client.put(_url(pass_id), json=body, headers=headers)
    assert (retry.status_code, retry.get_json()) == (202, first.get_json())
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert db.operations.count_documents({}) == operations_before + 1
    assert queue.llen(BULK_QUEUE) == queued + 1
    other = client.put(_url(pass_id), json={"message": {"content": "Other"}}, headers=headers)
    assert other.status_code == 422
    assert _fields(other) == {"Idempotency-Key"}
