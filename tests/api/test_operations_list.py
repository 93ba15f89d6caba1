"""`GET /api/<tenantId>/operations`: the tenant's recent operations, newest first, filtered
by kind and status, paged, total in x-pagination-total."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared import operations
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id
from tests.conftest import DEMO_KEY, RIVAL_KEY


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def _insert(db: Any, tenant: str, kind: str, status: str, minutes_ago: int) -> str:
    document = operations.new_operation(
        correlation_id=new_correlation_id(), tenant_id=tenant, kind=kind, total=1, intent={}
    )
    document.update(status=status, createdAt=utcnow() - timedelta(minutes=minutes_ago))
    db.operations.insert_one(document)
    return str(document["_id"])


def test_recent_operations_newest_first_with_filters(client: Any, db: Any) -> None:
    # Far in the future relative to other tests' operations, so these are the newest.
    newest = _insert(db, "demo", "pushUpdate", "failed", minutes_ago=-600)
    older = _insert(db, "demo", "pushUpdate", "failed", minutes_ago=-590)
    _insert(db, "rival", "pushUpdate", "failed", minutes_ago=-700)
    response = client.get(
        "/api/demo/operations?kind=pushUpdate&status=failed&pageSize=2",
        headers={"X-API-Key": DEMO_KEY},
    )
    assert response.status_code == 200
    assert [item["correlationId"] for item in response.get_json()] == [newest, older]
    total = db.operations.count_documents(
        {"tenant": "demo", "kind": "pushUpdate", "status": "failed"}
    )
    assert response.headers["x-pagination-total"] == str(total)
    assert all("intent" not in item for item in response.get_json())

    rival = client.get("/api/rival/operations?kind=pushUpdate", headers={"X-API-Key": RIVAL_KEY})
    assert {item["tenantId"] for item in rival.get_json()} == {"rival"}


@pytest.mark.parametrize("query", ["status=sleeping", "kind=nap", "pageSize=0", "colour=red"])
def test_bad_filters_are_422(client: Any, query: str) -> None:
    response = client.get(f"/api/demo/operations?{query}", headers={"X-API-Key": DEMO_KEY})
    assert response.status_code == 422
