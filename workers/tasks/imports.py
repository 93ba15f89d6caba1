"""Import tasks (routed to the `bulk` queue by their `passwire.imports.` prefix): thin
wrappers around shared/imports. tenant_id and correlation_id ride along in the kwargs so
Flower and the logs show them."""

from __future__ import annotations

from celery import current_app, shared_task

from shared.imports import BATCH_TASK, PLAN_TASK
from shared.imports.batches import run_import_batch
from shared.imports.planning import run_import_plan
from workers.base import PasswireTask
from workers.tasks.context import job_context, status_of


@shared_task(name=PLAN_TASK, base=PasswireTask, bind=True)
def plan_import(self: PasswireTask, *, tenant_id: str, correlation_id: str) -> str:
    """Enqueue one batch task per stored batch of the import's rows."""

    def enqueue(index: int) -> None:
        current_app.send_task(
            BATCH_TASK,
            kwargs={"tenant_id": tenant_id, "correlation_id": correlation_id, "batch": index},
        )

    return status_of(run_import_plan(job_context(), correlation_id, enqueue))


@shared_task(name=BATCH_TASK, base=PasswireTask, bind=True)
def import_batch(self: PasswireTask, *, tenant_id: str, correlation_id: str, batch: int) -> str:
    """Apply one batch of rows, store each row's result and record the batch once."""
    return status_of(run_import_batch(job_context(), correlation_id, batch))
