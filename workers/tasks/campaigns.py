"""Campaign tasks (routed to the `bulk` queue by their `passwire.campaigns.` prefix): thin
wrappers around shared/campaigns. tenant_id and correlation_id ride along in the kwargs so
Flower and the logs show them."""

from __future__ import annotations

from celery import current_app, shared_task

from shared.campaigns import BATCH_TASK, PLAN_TASK
from shared.campaigns.batches import run_batch
from shared.campaigns.planning import run_plan
from workers.base import PasswireTask
from workers.tasks.context import job_context, status_of


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

    return status_of(run_plan(job_context(), correlation_id, enqueue))


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
    return status_of(run_batch(job_context(), correlation_id, batch_id, pass_ids))
