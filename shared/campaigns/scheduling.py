"""Scheduled campaigns: stored `scheduled` with their `scheduledAt` in MongoDB, started by a
beat job that polls for due ones every 2 seconds (config/celery.py: START_SCHEDULED_EVERY_S).

Never a Redis ETA: a message held by a worker longer than the broker's visibility timeout is
delivered again, and one held in Redis is lost with it. MongoDB keeps the schedule through any
restart; a beat that was down starts what came due meanwhile at its first poll.

Starting is a compare-and-set scheduled → queued, then the planning job is enqueued: a
campaign cancelled first is never started (the cancel moved it out of `scheduled`), and of two
polls at once one starts it. Should the enqueue fail, it goes back to `scheduled` for the next
poll; should the process die in between, the campaign watchdog re-sends the planning job of a
`queued` campaign (shared/campaigns/recovery.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import operations
from shared.jobs import EnqueueError
from shared.repositories import campaign_waits
from shared.repositories import operations as operations_repo

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

STARTS_PER_POLL = 100  # a backlog (beat down for a while) drains over a few polls

SendPlan = Callable[[str, str], None]  # (tenant id, correlation id)


def start_due(db: Database[Any], *, now: datetime, send_plan: SendPlan) -> list[str]:
    """Start every scheduled campaign whose time has come; the correlationIds started."""
    started = []
    for due in campaign_waits.due_scheduled(
        db, status=operations.SCHEDULED, now=now, limit=STARTS_PER_POLL
    ):
        correlation_id = str(due["_id"])
        if _start(db, correlation_id, str(due["tenant"]), now=now, send_plan=send_plan):
            started.append(correlation_id)
    return started


def _start(
    db: Database[Any], correlation_id: str, tenant_id: str, *, now: datetime, send_plan: SendPlan
) -> bool:
    queued = operations_repo.transition(
        db,
        correlation_id,
        from_statuses=(operations.SCHEDULED,),
        changes={"status": operations.QUEUED, "queuedAt": now, "updatedAt": now},
    )
    if queued is None:
        return False  # cancelled meanwhile, or another poll took it
    try:
        send_plan(tenant_id, correlation_id)
    except EnqueueError as exc:
        log.warning("scheduled campaign %s not started yet: %s", correlation_id, exc)
        operations_repo.transition(
            db,
            correlation_id,
            from_statuses=(operations.QUEUED,),
            changes={"status": operations.SCHEDULED, "updatedAt": now},
            unset=("queuedAt",),
        )
        return False
    log.info("scheduled campaign %s started (due %s)", correlation_id, queued.get("scheduledAt"))
    return True
