"""Scheduled campaigns are started by the beat job's poll: only once due, once each, never
after a cancel, and put back for the next poll when the queue refuses the planning job."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from shared import operations
from shared.campaigns import PUSH_UPDATE
from shared.campaigns.scheduling import start_due
from shared.infra.clock import utcnow
from shared.jobs import EnqueueError


def _scheduled(db: Any, at_offset: timedelta) -> str:
    correlation_id = f"sched-{secrets.token_hex(6)}"
    document = operations.new_operation(
        correlation_id=correlation_id, tenant_id="demo", kind=PUSH_UPDATE, total=0, intent={}
    )
    document.update(status=operations.SCHEDULED, scheduledAt=utcnow() + at_offset)
    operations.create(db, document)
    return correlation_id


def _status(db: Any, correlation_id: str) -> str:
    return str(db.operations.find_one({"_id": correlation_id})["status"])


def test_due_campaigns_start_once_and_others_wait(db: Any) -> None:
    due = _scheduled(db, timedelta(seconds=-1))
    later = _scheduled(db, timedelta(minutes=5))
    cancelled = _scheduled(db, timedelta(seconds=-1))
    operations.request_cancel(db, "demo", cancelled)
    sent: list[tuple[str, str]] = []

    def send_plan(tenant_id: str, correlation_id: str) -> None:
        sent.append((tenant_id, correlation_id))

    started = start_due(db, now=utcnow(), send_plan=send_plan)
    assert due in started and later not in started and cancelled not in started
    assert ("demo", due) in sent and all(cid != cancelled for _, cid in sent)
    assert _status(db, due) == operations.QUEUED
    assert _status(db, later) == operations.SCHEDULED
    assert _status(db, cancelled) == operations.CANCELLED
    # The next poll finds nothing more to start for these.
    assert {due, later, cancelled}.isdisjoint(start_due(db, now=utcnow(), send_plan=send_plan))
    # Once its time comes, the later one starts too.
    assert later in start_due(db, now=utcnow() + timedelta(minutes=6), send_plan=send_plan)


def test_a_refused_planning_job_leaves_the_campaign_scheduled_for_the_next_poll(db: Any) -> None:
    due = _scheduled(db, timedelta(seconds=-1))

    def refuse(tenant_id: str, correlation_id: str) -> None:
        raise EnqueueError("broker down")

    assert due not in start_due(db, now=utcnow(), send_plan=refuse)
    assert _status(db, due) == operations.SCHEDULED
    assert due in start_due(db, now=utcnow(), send_plan=lambda tenant, cid: None)
    assert _status(db, due) == operations.QUEUED
