"""`PUT /api/<tenantId>/passes/notification?id.<system>.<key>=value`: the message goes to the
one pass an external identifier names, as `PUT …/passes/{passId}/notification` does; none →
404, several → 409, a bad lookup or body → 422 naming the field; nothing written or queued
then (the worker's side: tests/e2e/test_apple_messages.py)."""

from __future__ import annotations

import secrets
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
MESSAGE = {"content": "Your table is ready", "localizedContent": {"fr": "Votre table est prête"}}


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def queue(broker_url: str) -> Any:
    return redis.Redis.from_url(broker_url)


@pytest.fixture
def started(db: Any) -> Iterator[list[str]]:
    """correlationIds to cancel afterwards: a worker started by a later test skips them."""
    correlation_ids: list[str] = []
    yield correlation_ids
    for correlation_id in correlation_ids:
        operations.request_cancel(db, "demo", correlation_id)


@pytest.fixture
def nothing_written(db: Any, queue: Any) -> Iterator[None]:
    def snapshot() -> tuple[int, ...]:
        return db.operations.count_documents({}), queue.llen(BULK_QUEUE)

    before = snapshot()
    yield
    assert snapshot() == before


def _insert(db: Any, tenant: str, identifiers: dict[str, Any]) -> str:
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": tenant, "passType": "loyalty", "authenticationToken": "t" * 32,
         "identifiers": identifiers, "metadata": {}, "additionalData": {}, "version": 1,
         "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    return pass_id


def _put(client: Any, query: str, body: Any = None, headers: dict[str, str] = HEADERS) -> Any:
    return client.put(
        f"/api/demo/passes/notification?{query}",
        json={"message": MESSAGE} if body is None else body,
        headers=headers,
    )


def _fields(response: Any) -> set[str]:
    return {error["field"] for error in response.get_json()["errors"]}


def test_the_one_pass_named_gets_a_campaign_of_its_own(
    client: Any, db: Any, queue: Any, started: list[str]
) -> None:
    customer = f"C-{secrets.token_hex(4)}"
    pass_id = _insert(db, "demo", {"y2": {"customerId": customer}})
    queued = queue.llen(BULK_QUEUE)
    body = {"message": MESSAGE, "data": {"metadata": {"tier": "gold"}}}
    response = _put(client, f"id.y2.customerId={customer}", body)
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    started.append(answer["correlationId"])
    assert answer == {"correlationId": answer["correlationId"], "passId": pass_id}
    assert response.headers["Location"] == f"/api/demo/operations/{answer['correlationId']}"
    operation = db.operations.find_one({"_id": answer["correlationId"]})
    assert operation["kind"] == PUSH_UPDATE
    assert operation["intent"]["segment"]["ids"] == [pass_id]
    assert operation["intent"]["patch"] == {"metadata": {"tier": "gold"}}
    assert operation["message"] == {**MESSAGE, "kind": "transactional"}  # the default kind
    assert queue.llen(BULK_QUEUE) == queued + 1
    # `id=<passId>` names it too.
    again = _put(client, f"id={pass_id}")
    assert again.status_code == 202
    started.append(again.get_json()["correlationId"])
    assert again.get_json()["passId"] == pass_id


@pytest.mark.usefixtures("nothing_written")
class TestRefused:
    def test_none_is_404_and_several_are_409(self, client: Any, db: Any) -> None:
        shared_value = f"C-{secrets.token_hex(4)}"
        _insert(db, "demo", {"crm": shared_value})
        _insert(db, "demo", {"crm": shared_value})
        missing = _put(client, "id.crm=nobody-has-this")
        assert (missing.status_code, _fields(missing)) == (404, {"id"})
        several = _put(client, f"id.crm={shared_value}")
        assert (several.status_code, _fields(several)) == (409, {"id"})

    def test_another_tenants_pass_is_not_found(self, client: Any, db: Any) -> None:
        customer = f"C-{secrets.token_hex(4)}"
        _insert(db, "rival", {"crm": customer})
        assert _put(client, f"id.crm={customer}").status_code == 404
        rival = _put(client, f"id.crm={customer}", headers={"X-API-Key": RIVAL_KEY})
        assert rival.status_code == 403  # the demo tenant's path, the rival's key

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("", "id"),
            ("crm=C-1", "crm"),
            ("id.bad$key=1", "id.bad$key"),
            ("id.a.b.c=1", "id.a.b.c"),
        ],
    )
    def test_a_bad_lookup_is_422_naming_it(self, client: Any, query: str, field: str) -> None:
        response = _put(client, query)
        assert response.status_code == 422
        assert _fields(response) == {field}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "message"),
            ({"message": {"content": ""}}, "message.content"),
            ({"message": {"content": "Hi", "localizedContent": {"French!": "Salut"}}},
             "message.localizedContent.French!.key"),
            ({"message": MESSAGE, "data": {"points": 1}}, "data.points"),
        ],
    )  # fmt: skip
    def test_a_bad_body_is_422_naming_the_field(
        self, client: Any, db: Any, body: dict[str, Any], field: str
    ) -> None:
        customer = f"C-{secrets.token_hex(4)}"
        _insert(db, "demo", {"crm": customer})
        response = _put(client, f"id.crm={customer}", body)
        assert response.status_code == 422, response.get_json()
        assert _fields(response) == {field}


def test_options_lists_only_this_routes_methods(client: Any) -> None:
    """`/passes/notification` also matches `/passes/<passId>`, whose methods it must not offer."""
    response = client.options("/api/demo/passes/notification", headers=HEADERS)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"OPTIONS", "PUT"}
    assert client.get("/api/demo/passes/notification", headers=HEADERS).status_code == 404
