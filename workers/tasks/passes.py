from __future__ import annotations

from celery import shared_task

from shared.jobs import CREATE_PASS
from shared.passes.creation import run_create
from workers.base import PasswireTask
from workers.runtime import database


@shared_task(name=CREATE_PASS, base=PasswireTask, bind=True)
def create_pass(self: PasswireTask, *, tenant_id: str, correlation_id: str, pass_id: str) -> str:
    """Create one pass. tenant_id and pass_id ride along so Flower and logs show them."""
    operation = run_create(database(), correlation_id)
    return str(operation["status"]) if operation else "unknown-operation"
