"""Scheduled campaigns through the real processes: HTTP → MongoDB (status `scheduled`) → a real
`celery beat` polling for due campaigns → Redis → the worker. A campaign due while beat was
down starts at beat's first poll after the restart; a cancelled one never runs. And bad
`scheduledAt` / `throughput` values are refused before anything is written."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.infra.clock import utcnow
from tests.e2e.test_push_updates import insert_segment, push_update, start_campaign, versions
from tests.support.api_client import ApiClient
from tests.support.processes import BIN_DIR, ManagedProcess


@pytest.fixture
def beat(stack_env: dict[str, str], tmp_path: Path) -> Iterator[ManagedProcess]:
    """`celery beat` as the Procfile runs it (not started: the test starts and restarts it)."""
    command = [
        str(BIN_DIR / "celery"), "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
        "--schedule", str(tmp_path / "beat-schedule"),
    ]  # fmt: skip
    process = ManagedProcess("beat", command, stack_env, r"beat: Starting")
    yield process
    process.stop()


def _at(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat()


def _status(client: ApiClient, correlation_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.operation(correlation_id).json()
    return body


@pytest.mark.usefixtures("worker")
def test_a_scheduled_campaign_starts_after_a_beat_restart_and_a_cancelled_one_never_runs(
    demo: ApiClient, db: Any, beat: ManagedProcess
) -> None:
    tag = secrets.token_hex(6)
    segment = insert_segment(db, tag, 30)
    before = versions(db, segment)
    body = {"filter": {"metadata": {"campaign": [tag]}}, "data": {"additionalData": {"s": 1}}}
    beat.start()

    due_in = 5.0
    response = push_update(demo, {**body, "scheduledAt": _at(due_in)})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    waiting = response.json()["correlationId"]
    cancelled = start_campaign(demo, {**body, "scheduledAt": _at(due_in)})
    refused = demo.cancel(cancelled)
    assert refused.status_code == 202 and refused.json()["status"] == "cancelled"
    shown = _status(demo, waiting)
    assert shown["status"] == "scheduled" and shown["scheduledAt"]

    # Beat goes down before the campaign is due and comes back after: MongoDB kept it.
    beat.stop()
    time.sleep(due_in + 1)
    assert _status(demo, waiting)["status"] == "scheduled"
    assert versions(db, segment) == before  # nothing ran early
    restarted = time.monotonic()
    beat.start()
    operation = demo.wait_for_final(waiting, timeout=60)
    print(f"\nstarted and finished {time.monotonic() - restarted:.1f} s after beat restarted")
    assert operation["status"] == "completed", operation
    assert operation["counters"]["succeeded"] == operation["counters"]["total"] == 30
    assert all(version == 2 for version, _ in versions(db, segment).values())

    # With beat up, a campaign starts within a few seconds of its time, never before it.
    later = {**body, "data": {"additionalData": {"s": 2}}, "scheduledAt": _at(3)}
    again = start_campaign(demo, later)
    stored = db.operations.find_one({"_id": again})
    done = demo.wait_for_final(again, timeout=60)
    assert done["status"] == "completed", done
    started = db.operations.find_one({"_id": again})
    assert started["queuedAt"] >= stored["scheduledAt"]
    print(f"started {(started['queuedAt'] - stored['scheduledAt']).total_seconds():.1f} s "
          "after its scheduledAt")  # fmt: skip

    # The cancelled one never ran: not started, nothing counted, its passes untouched by it.
    never = _status(demo, cancelled)
    assert never["status"] == "cancelled" and never["startedAt"] is None
    assert never["counters"]["succeeded"] == never["counters"]["processed"] == 0
    assert all(version == 3 for version, _ in versions(db, segment).values())


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"scheduledAt": "2020-01-01T00:00:00Z"}, "scheduledAt"),
        ({"scheduledAt": "tomorrow"}, "scheduledAt"),
        ({"scheduledAt": "2099-01-01T00:00:00"}, "scheduledAt"),  # no time zone
        ({"scheduledAt": "2099-01-01T00:00:00Z"}, "scheduledAt"),  # beyond a year
        ({"throughput": 0}, "throughput"),
        ({"throughput": -5}, "throughput"),
        ({"throughput": 2.5}, "throughput"),
        ({"throughput": "10"}, "throughput"),
        ({"dryRun": "maybe"}, "dryRun"),
    ],
)
def test_bad_schedule_or_throughput_is_422_and_writes_nothing(
    demo: ApiClient, db: Any, extra: dict[str, Any], field: str
) -> None:
    before = db.operations.count_documents({})
    response = push_update(demo, {"filter": {}, "data": {"additionalData": {"x": 1}}, **extra})
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]], response.text
    assert db.operations.count_documents({}) == before
