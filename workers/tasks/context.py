"""What every job task hands its domain function, and how it reports back to Flower."""

from __future__ import annotations

from typing import Any

from celery import current_app

from shared.passes.jobs import JobContext
from shared.providers.fetching import process_client
from workers.runtime import database, settings, tenants


def job_context() -> JobContext:
    return JobContext(
        db=database(),
        tenants=tenants(),
        settings=settings,
        events_queue=current_app,
        external=process_client(),  # one session per worker process, kept alive across jobs
    )


def status_of(operation: dict[str, Any] | None) -> str:
    """The task's result as Flower shows it: the operation's status after the job."""
    return str(operation["status"]) if operation else "unknown-operation"
