"""Campaign tasks (routed to the `bulk` queue by their `passwire.campaigns.` prefix): thin
wrappers around shared/campaigns. tenant_id and correlation_id ride along in the kwargs so
Flower and the logs show them."""

from __future__ import annotations

from typing import Any

from celery import current_app, shared_task

from shared.campaigns import BATCH_TASK, PLAN_TASK
from shared.campaigns.batches import run_batch
from shared.campaigns.planning import run_plan
from shared.passes.jobs import JobContext
from workers.base import PasswireTask
from workers.runtime import database, settings, tenants


def _context() -> JobContext:
    return JobContext(db=database(), tenants=tenants(), settings=settings, events_queue=current_app)


def _status(operation: dict[str, Any] | None) -> str:
    return str(operation["status"]) if operation else "unknown-operation"


@shared_task(name=PLAN_TASK, base=PasswireTask, bind=True)
def plan_campaign(self: PasswireTask, *, tenant_id: str, correlation_id: str) -> str:
    """Count the campaign's segment and enqueue one batch task per batch of pass ids."""

    def enqueue(batch_id: str, pass_ids: list[str]) -> None:
        current_app.send_task(
            BATCH_TASK,
            kwargs={
                "tenant_id": tenant_id,
                "correlation_id": correlation_id,
                "batch_id": batch_id,
                "pass_ids": pass_ids,
            },
        )

    return _status(run_plan(_context(), correlation_id, enqueue))


@shared_task(name=BATCH_TASK, base=PasswireTask, bind=True)
def campaign_batch(
    self: PasswireTask,
    *,
    tenant_id: str,
    correlation_id: str,
    batch_id: str,
    pass_ids: list[str],
) -> str:
    """Apply the campaign's change to one batch of passes and record it once."""
    return _status(run_batch(_context(), correlation_id, batch_id, pass_ids))
