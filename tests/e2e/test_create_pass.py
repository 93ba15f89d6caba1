"""HTTP → Redis → a Celery worker in its own process → MongoDB, for the `create` job."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from tests.support.api_client import ApiClient

pytestmark = pytest.mark.usefixtures("worker")


def test_create_pass_end_to_end(demo: ApiClient, db: Any) -> None:
    body = {
        "identifiers": {"crm": "C-1233332", "y2": {"customerId": "1233332"}},
        "metadata": {"store": "42", "tier": "gold"},
        "additionalData": {"welcome": "Hello!"},
    }
    response = demo.create_pass("loyalty", **body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    correlation_id, pass_id = accepted["correlationId"], accepted["passId"]
    assert re.fullmatch(r"[\w-]{5,50}", pass_id)
    assert response.headers["Location"].endswith(f"/api/demo/operations/{correlation_id}")

    operation = demo.wait_for_final(correlation_id)
    assert operation["status"] == "completed"
    counters = operation["counters"]
    google = counters.pop("google")
    assert counters == {
        "total": 1,
        "processed": 1,
        "succeeded": 1,
        "failed": 0,
        "unchanged": 0,
        "cancelled": 0,
        "apple": {"pushed": 0, "failed": 0, "unregistered": 0},
        # The notification counters every operation shows; a create sends no message.
        "suppressed": {"consent": 0, "budget": 0, "quietHours": 0},
        "deferred": 0,
    }
    # No call to Google: its object waits, owed, for someone to click the Save link.
    assert (google["updated"], google["inserted"], google["failed"]) == (0, 0, 0)
    assert google["requests"] == 0
    created, started, finished = (
        datetime.fromisoformat(operation[key]) for key in ("createdAt", "startedAt", "finishedAt")
    )
    assert created <= started <= finished

    stored = db.passes.find_one({"_id": pass_id})
    assert stored is not None
    assert stored["tenant"] == "demo"
    assert stored["passType"] == "loyalty"
    assert stored["identifiers"] == body["identifiers"]
    assert stored["metadata"] == body["metadata"]
    assert stored["additionalData"] == body["additionalData"]
    assert len(stored["authenticationToken"]) >= 16
    # Rendered and signed for Apple by the worker, ready to serve without signing.
    assert stored["apple"]["passTypeIdentifier"] == "pass.com.example.demo"
    assert {"passJson", "manifest", "signature", "updateTag", "lastModified"} <= set(
        stored["apple"]
    )
    # The final state is durable in MongoDB, and the intent (with identifiers) is dropped.
    durable = db.operations.find_one({"_id": correlation_id})
    assert durable["status"] == "completed"
    assert "intent" not in durable

    shown = demo.get_pass(pass_id)
    assert shown.status_code == 200
    assert shown.json()["identifiers"] == body["identifiers"]
    assert "authenticationToken" not in shown.json()


def test_every_pass_gets_its_own_id_and_token(demo: ApiClient, db: Any) -> None:
    accepted = [demo.create_pass("loyalty").json() for _ in range(5)]
    for item in accepted:
        assert demo.wait_for_final(item["correlationId"])["status"] == "completed"
    stored = list(db.passes.find({"_id": {"$in": [item["passId"] for item in accepted]}}))
    assert len(stored) == 5
    assert len({document["authenticationToken"] for document in stored}) == 5


def test_unknown_operation_is_404(demo: ApiClient) -> None:
    response = demo.operation("0" * 32)
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "correlationId"
    assert demo.cancel("0" * 32).status_code == 404


def test_other_tenants_see_nothing(demo: ApiClient, rival: ApiClient, db: Any) -> None:
    accepted = demo.create_pass("loyalty", identifiers={"crm": "private"}).json()
    demo.wait_for_final(accepted["correlationId"])
    assert rival.operation(accepted["correlationId"]).status_code == 404
    assert rival.get_pass(accepted["passId"]).status_code == 404
    assert rival.cancel(accepted["correlationId"]).status_code == 404
    assert db.operations.find_one({"_id": accepted["correlationId"]})["status"] == "completed"


def test_cancelling_a_finished_operation_is_409(demo: ApiClient) -> None:
    accepted = demo.create_pass("loyalty").json()
    demo.wait_for_final(accepted["correlationId"])
    response = demo.cancel(accepted["correlationId"])
    assert response.status_code == 409
    assert "completed" in response.json()["message"]
