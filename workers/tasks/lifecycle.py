"""The expiry sweep, sent by Celery beat every PASSWIRE_EXPIRY_INTERVAL_S seconds (routed to
the `bulk` queue by its `passwire.lifecycle.` prefix), and the deletion of a pass (a
`passwire.passes.` job, so on the `interactive` queue: a caller waits for it)."""

from __future__ import annotations

from datetime import timedelta

from celery import current_app, shared_task

from config.celery import BULK_QUEUE, EXPIRE_DUE, RESEND_OWED
from shared.infra.clock import utcnow
from shared.jobs import DELETE_PASS, EnqueueError
from shared.lifecycle.deletion import run_delete
from shared.lifecycle.expiry import expire_due
from shared.lifecycle.refresh import REFRESH_TASK
from shared.passes.resending import resend_owed
from workers.base import PasswireTask
from workers.runtime import database, tenants

# The pass jobs' context and result, shared rather than copied.
from workers.tasks.context import job_context, status_of


def _enqueue_refresh(tenant_id: str, correlation_id: str, pass_id: str) -> None:
    # On the bulk queue: a thousand passes expiring at midnight never hold up the
    # single-pass work a caller waits for on the interactive queue.
    try:
        current_app.send_task(
            REFRESH_TASK,
            kwargs={"tenant_id": tenant_id, "correlation_id": correlation_id, "pass_id": pass_id},
            queue=BULK_QUEUE,
        )
    except Exception as exc:  # kombu raises several connection error types
        raise EnqueueError(f"could not enqueue {REFRESH_TASK}: {type(exc).__name__}") from exc


@shared_task(name=EXPIRE_DUE, base=PasswireTask, bind=True)
def expire_due_passes(self: PasswireTask) -> int:
    """Move active passes past their expirationDate to `expired` and refresh each."""
    return expire_due(database(), tenants().tenants.keys(), _enqueue_refresh, now=utcnow())


@shared_task(name=RESEND_OWED, base=PasswireTask, bind=True)
def resend_owed_deliveries(self: PasswireTask, *, owed_for_s: int) -> int:
    """Refresh passes whose Apple push or Google object has been owed `owed_for_s` seconds
    (PASSWIRE_RESEND_AFTER_S, sent by beat)."""
    owed_for = timedelta(seconds=owed_for_s)
    return resend_owed(
        database(), tenants().tenants.keys(), _enqueue_refresh, now=utcnow(), owed_for=owed_for
    )


@shared_task(name=DELETE_PASS, base=PasswireTask, bind=True)
def delete_pass(self: PasswireTask, *, tenant_id: str, correlation_id: str, pass_id: str) -> str:
    """Void one pass in both wallets, then delete it (or erase every trace of it)."""
    return status_of(run_delete(job_context(), correlation_id))
