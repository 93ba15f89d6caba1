"""`PATCH /api/<tenantId>/passes?id.<system>.<key>=value`: the one pass an external
identifier names gets the update; none → 404, several → 409, nothing queued then."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from tests.conftest import DEMO_KEY, RIVAL_KEY

HEADERS = {"X-API-Key": DEMO_KEY}


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def _insert(db: Any, tenant: str, identifiers: dict[str, Any]) -> str:
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": tenant, "passType": "loyalty", "authenticationToken": "t" * 32,
         "identifiers": identifiers, "metadata": {}, "additionalData": {}, "version": 1,
         "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    return pass_id


def _patch(client: Any, query: str, headers: dict[str, str] = HEADERS) -> Any:
    return client.patch(
        f"/api/demo/passes?{query}", json={"metadata": {"tier": "gold"}}, headers=headers
    )


def test_a_unique_identifier_names_the_pass(client: Any, db: Any) -> None:
    customer = f"C-{secrets.token_hex(4)}"
    pass_id = _insert(db, "demo", {"y2": {"customerId": customer}})
    response = _patch(client, f"id.y2.customerId={customer}")
    assert response.status_code == 202
    assert response.get_json()["passId"] == pass_id
    operation = db.operations.find_one({"_id": response.get_json()["correlationId"]})
    assert operation["kind"] == "update"
    assert _patch(client, f"id={pass_id}").get_json()["passId"] == pass_id


def test_none_or_several_matches_queue_nothing(client: Any, db: Any) -> None:
    shared_value = f"C-{secrets.token_hex(4)}"
    _insert(db, "demo", {"crm": shared_value})
    _insert(db, "demo", {"crm": shared_value})
    before = db.operations.count_documents({})
    assert _patch(client, "id.crm=nobody-has-this").status_code == 404
    assert _patch(client, f"id.crm={shared_value}").status_code == 409
    assert db.operations.count_documents({}) == before


def test_another_tenants_pass_is_not_found(client: Any, db: Any) -> None:
    customer = f"C-{secrets.token_hex(4)}"
    _insert(db, "rival", {"crm": customer})
    assert _patch(client, f"id.crm={customer}").status_code == 404
    assert _patch(client, f"id.crm={customer}", {"X-API-Key": RIVAL_KEY}).status_code == 403


@pytest.mark.parametrize("query", ["", "crm=C-1", "id.bad$key=1", "id.a.b.c=1"])
def test_a_bad_lookup_is_422(client: Any, query: str) -> None:
    response = _patch(client, query)
    assert response.status_code == 422
    assert response.get_json()["errors"]
