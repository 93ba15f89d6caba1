"""What every job task hands its domain function, and how it reports back to Flower."""

from __future__ import annotations

from typing import Any

from celery import current_app

from shared.passes.jobs import JobContext
from workers.runtime import database, settings, tenants


def job_context() -> JobContext:
    # The clients are this worker process's own (JobContext's defaults), kept across jobs.
    # The tenants are pinned: the job renders with the pass type versions active as it began.
    return JobContext(
        db=database(), tenants=tenants().pinned(), settings=settings, events_queue=current_app
    )


def status_of(operation: dict[str, Any] | None) -> str:
    """The task's result as Flower shows it: the operation's status after the job."""
    return str(operation["status"]) if operation else "unknown-operation"
