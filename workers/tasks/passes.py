from __future__ import annotations

from typing import Any

from celery import current_app, shared_task

from shared.jobs import CREATE_PASS, UPDATE_PASS
from shared.passes.creation import run_create
from shared.passes.jobs import JobContext
from shared.passes.updating import run_update
from shared.providers.fetching import process_client
from workers.base import PasswireTask
from workers.runtime import database, settings, tenants


def _context() -> JobContext:
    return JobContext(
        db=database(),
        tenants=tenants(),
        settings=settings,
        events_queue=current_app,
        external=process_client(),  # one session per worker process, kept alive across jobs
    )


def _status(operation: dict[str, Any] | None) -> str:
    return str(operation["status"]) if operation else "unknown-operation"


# tenant_id and pass_id ride along in the kwargs so Flower and logs show them.
@shared_task(name=CREATE_PASS, base=PasswireTask, bind=True)
def create_pass(self: PasswireTask, *, tenant_id: str, correlation_id: str, pass_id: str) -> str:
    """Create one pass (rendered and signed for Apple when its type has a template)."""
    return _status(run_create(_context(), correlation_id))


@shared_task(name=UPDATE_PASS, base=PasswireTask, bind=True)
def update_pass(self: PasswireTask, *, tenant_id: str, correlation_id: str, pass_id: str) -> str:
    """Patch one pass, re-render it and push its devices when it changed."""
    return _status(run_update(_context(), correlation_id))
