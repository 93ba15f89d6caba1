"""Campaign tasks (routed to the `bulk` queue by their `passwire.campaigns.` prefix): thin
wrappers around shared/campaigns. tenant_id and correlation_id ride along in the kwargs so
Flower and the logs show them. The watchdog (sent by beat) rides the interactive queue."""

from __future__ import annotations

from datetime import timedelta

from celery import current_app, shared_task

from config.celery import CAMPAIGN_WATCHDOG, START_SCHEDULED
from shared.campaigns import BATCH_TASK, PLAN_TASK
from shared.campaigns.batches import run_batch
from shared.campaigns.planning import EnqueueBatch, advance, run_plan
from shared.campaigns.recovery import recover_stalled
from shared.campaigns.scheduling import start_due
from shared.infra.clock import utcnow
from shared.jobs import EnqueueError
from workers.base import PasswireTask
from workers.runtime import database
from workers.tasks.context import job_context, status_of


def _send_batch(tenant_id: str, correlation_id: str, batch_id: str, pass_ids: list[str]) -> None:
    current_app.send_task(
        BATCH_TASK,
        kwargs={
            "tenant_id": tenant_id,
            "correlation_id": correlation_id,
            "batch_id": batch_id,
            "pass_ids": pass_ids,
        },
    )


def _send_plan(tenant_id: str, correlation_id: str) -> None:
    current_app.send_task(
        PLAN_TASK, kwargs={"tenant_id": tenant_id, "correlation_id": correlation_id}
    )


def _batch_enqueuer(tenant_id: str, correlation_id: str) -> EnqueueBatch:
    def enqueue(batch_id: str, pass_ids: list[str]) -> None:
        _send_batch(tenant_id, correlation_id, batch_id, pass_ids)

    return enqueue


class CampaignTask(PasswireTask):
    # Giving up on an outage leaves the campaign running: the watchdog resumes it.
    resumable = True


@shared_task(name=PLAN_TASK, base=CampaignTask, bind=True)
def plan_campaign(self: PasswireTask, *, tenant_id: str, correlation_id: str) -> str:
    """Count the campaign's segment and enqueue its first batch tasks (a window of them)."""
    enqueue = _batch_enqueuer(tenant_id, correlation_id)
    # The task id owns the class message's send: delivered again, the job takes it over.
    return status_of(run_plan(job_context(), correlation_id, enqueue, owner=self.request.id))


@shared_task(name=BATCH_TASK, base=CampaignTask, bind=True)
def campaign_batch(
    self: PasswireTask,
    *,
    tenant_id: str,
    correlation_id: str,
    batch_id: str,
    pass_ids: list[str],
) -> str:
    """Enqueue the campaign's next batch, then apply its change to this one and record it."""
    context = job_context()
    enqueue = _batch_enqueuer(tenant_id, correlation_id)
    advance(context, correlation_id, enqueue)
    # The task id is the lease's owner: the same message delivered again takes the batch
    # over; another copy does nothing while it is held (the watchdog re-sends it if need be).
    return status_of(
        run_batch(context, correlation_id, batch_id, pass_ids, enqueue, owner=self.request.id)
    )


@shared_task(name=CAMPAIGN_WATCHDOG, base=PasswireTask, bind=True)
def campaign_watchdog(self: PasswireTask, *, stall_s: int) -> int:
    """Re-send what stalled campaigns lost (shared/campaigns/recovery.py); how many it took."""
    recovered = recover_stalled(
        job_context(),
        stall=timedelta(seconds=stall_s),
        send_plan=_send_plan,
        send_batch=_send_batch,
    )
    return len(recovered)


def _send_scheduled_plan(tenant_id: str, correlation_id: str) -> None:
    try:
        current_app.send_task(
            PLAN_TASK, kwargs={"tenant_id": tenant_id, "correlation_id": correlation_id}
        )
    except Exception as exc:  # kombu raises several connection error types
        raise EnqueueError(f"could not enqueue {PLAN_TASK}: {type(exc).__name__}") from exc


@shared_task(name=START_SCHEDULED, base=PasswireTask, bind=True)
def start_scheduled(self: PasswireTask) -> int:
    """Start the scheduled campaigns whose time has come (sent by beat); how many started."""
    return len(start_due(database(), now=utcnow(), send_plan=_send_scheduled_plan))
