"""Pausing and resuming a campaign through the real processes (HTTP → Redis → the worker →
MongoDB → fake APNs): a paused campaign stops between passes and stays still, its counters
exact; resumed, it continues where it stood and every pass is processed once; a paused one
cancelled ends with what it did counted. Plus the refusals, and a paced campaign never goes
faster than its `throughput`."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from shared.infra.clock import utcnow
from tests.e2e.test_push_updates import insert_segment, register_devices, start_campaign, versions
from tests.support.api_client import ApiClient
from tests.support.processes import wait_until


def _post(client: ApiClient, correlation_id: str, action: str) -> Any:
    return client.session.post(client.url(f"/operations/{correlation_id}/{action}"), timeout=10)


def _operation(client: ApiClient, correlation_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.operation(correlation_id).json()
    return body


def _started(client: ApiClient, correlation_id: str) -> dict[str, Any]:
    def some_processed() -> dict[str, Any] | None:
        found = _operation(client, correlation_id)
        return found if found["counters"]["processed"] > 0 else None

    running: dict[str, Any] = wait_until(some_processed, 60, interval=0.05, what="a first batch")
    return running


def _still(client: ApiClient, db: Any, correlation_id: str, segment: list[str]) -> dict[str, Any]:
    """Wait until the paused campaign stands still: the same counters and pass versions for
    two seconds (the batches that were running have stopped and parked their passes)."""
    last: list[Any] = [None]

    def settled() -> dict[str, Any] | None:
        now = (_operation(client, correlation_id)["counters"], versions(db, segment))
        if now == last[0]:
            return _operation(client, correlation_id)
        last[0] = now
        return None

    still: dict[str, Any] = wait_until(settled, 60, interval=2.0, what="the pause to settle")
    return still


def _written(db: Any, segment: list[str]) -> int:
    return sum(version == 2 for version, _ in versions(db, segment).values())


@pytest.mark.usefixtures("worker")
def test_a_paused_campaign_stands_still_and_resumed_processes_every_pass_once(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl
) -> None:
    tag = secrets.token_hex(6)
    segment = insert_segment(db, tag, 1500)
    tokens = set(register_devices(db, segment[::10]))
    body = {
        "filter": {"metadata": {"campaign": [tag]}},
        "data": {"additionalData": {"paused": "no"}},
        "throughput": 200,  # slow enough to pause halfway
    }
    correlation_id = start_campaign(demo, body)
    _started(demo, correlation_id)
    paused = _post(demo, correlation_id, "pause")
    assert paused.status_code == 202, paused.text
    assert paused.json()["status"] == "paused" and paused.json()["pausedAt"]
    assert _post(demo, correlation_id, "pause").json()["status"] == "paused"  # as it is

    still = _still(demo, db, correlation_id, segment)
    counters = still["counters"]
    assert still["status"] == "paused"
    assert 0 < counters["processed"] < counters["total"] == 1500
    # Exact while paused: the passes written are those counted, nothing else moves.
    assert counters["succeeded"] == counters["processed"] == _written(db, segment)
    assert counters["cancelled"] == counters["failed"] == 0
    print(f"\npaused at {counters['processed']} of {counters['total']}")

    resumed = _post(demo, correlation_id, "resume")
    assert resumed.status_code == 202, resumed.text
    assert resumed.json()["status"] == "running" and resumed.json()["resumedAt"]
    operation = demo.wait_for_final(correlation_id, timeout=120)
    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert counters["total"] == counters["processed"] == counters["succeeded"] == 1500
    assert (counters["failed"], counters["unchanged"], counters["cancelled"]) == (0, 0, 0)
    # Every pass written exactly once (one version more), each device pushed exactly once.
    assert {version for version, _ in versions(db, segment).values()} == {2}
    assert counters["apple"]["pushed"] == len(tokens) == 150
    assert sorted(p["token"] for p in fake_apns.pushes() if p["token"] in tokens) == sorted(tokens)


@pytest.mark.usefixtures("worker")
def test_a_paused_campaign_cancelled_counts_what_it_did_and_the_rest_cancelled(
    demo: ApiClient, db: Any
) -> None:
    tag = secrets.token_hex(6)
    segment = insert_segment(db, tag, 1500)
    body = {
        "filter": {"metadata": {"campaign": [tag]}},
        "data": {"additionalData": {"paused": "then cancelled"}},
        "throughput": 200,
    }
    correlation_id = start_campaign(demo, body)
    _started(demo, correlation_id)
    assert _post(demo, correlation_id, "pause").status_code == 202
    _still(demo, db, correlation_id, segment)
    cancelled = demo.cancel(correlation_id)
    assert cancelled.status_code == 202, cancelled.text
    operation = demo.wait_for_final(correlation_id, timeout=60)
    assert operation["status"] == "cancelled", operation
    counters = operation["counters"]
    assert counters["processed"] == counters["total"] == 1500
    assert counters["succeeded"] + counters["cancelled"] == 1500 and counters["cancelled"] > 0
    assert counters["succeeded"] == _written(db, segment)
    after = versions(db, segment)
    time.sleep(1.5)
    assert versions(db, segment) == after  # nothing moves once it ended
    assert _post(demo, correlation_id, "resume").status_code == 409


@pytest.mark.usefixtures("worker")
def test_pause_and_resume_refusals(demo: ApiClient, db: Any) -> None:
    assert _post(demo, "0" * 32, "pause").status_code == 404
    tag = secrets.token_hex(6)
    insert_segment(db, tag, 5)
    body = {"filter": {"metadata": {"campaign": [tag]}}, "data": {"additionalData": {"r": 1}}}
    done = demo.wait_for_final(start_campaign(demo, body), timeout=30)
    refused = _post(demo, done["correlationId"], "pause")
    assert refused.status_code == 409, refused.text
    assert refused.json()["errors"] == [
        {"field": "correlationId", "reason": "operation is completed"}
    ]
    later = (utcnow() + timedelta(days=30)).isoformat()
    scheduled = start_campaign(demo, {**body, "scheduledAt": later})
    assert _post(demo, scheduled, "pause").status_code == 409  # cancel it instead
    assert _post(demo, scheduled, "resume").status_code == 409
    assert demo.cancel(scheduled).json()["status"] == "cancelled"
    rival = demo.session.post(
        demo.url(f"/operations/{done['correlationId']}/pause").replace("/demo/", "/rival/"),
        timeout=10,
    )
    assert rival.status_code in (403, 404)


@pytest.mark.usefixtures("worker")
def test_a_paced_campaign_never_goes_faster_than_its_throughput(demo: ApiClient, db: Any) -> None:
    tag = secrets.token_hex(6)
    insert_segment(db, tag, 60)
    body = {
        "filter": {"metadata": {"campaign": [tag]}},
        "data": {"additionalData": {"paced": 1}},
        "throughput": 20,
    }
    operation = demo.wait_for_final(start_campaign(demo, body), timeout=60)
    assert operation["status"] == "completed", operation
    assert operation["throughputLimit"] == 20
    # A floor, not a speed figure: 60 passes at 20 a second cannot take under 2 s (the first
    # second's 20 go at once), whatever the machine.
    started, finished = (operation[key] for key in ("startedAt", "finishedAt"))
    elapsed = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    assert elapsed >= 2.0 - 0.05, elapsed
