from __future__ import annotations

from celery import shared_task

from shared.jobs import CREATE_PASS, EMAIL_PASS, UPDATE_PASS
from shared.passes.creation import run_create
from shared.passes.emailing import run_email
from shared.passes.updating import run_update
from workers.base import PasswireTask
from workers.tasks.context import job_context, status_of


# tenant_id and pass_id ride along in the kwargs so Flower and logs show them.
@shared_task(name=CREATE_PASS, base=PasswireTask, bind=True)
def create_pass(self: PasswireTask, *, tenant_id: str, correlation_id: str, pass_id: str) -> str:
    """Create one pass (rendered and signed for Apple when its type has a template)."""
    return status_of(run_create(job_context(), correlation_id))


@shared_task(name=UPDATE_PASS, base=PasswireTask, bind=True)
def update_pass(self: PasswireTask, *, tenant_id: str, correlation_id: str, pass_id: str) -> str:
    """Patch one pass, re-render it and push its devices when it changed."""
    return status_of(run_update(job_context(), correlation_id))


@shared_task(name=EMAIL_PASS, base=PasswireTask, bind=True)
def email_pass(self: PasswireTask, *, tenant_id: str, correlation_id: str, pass_id: str) -> str:
    """Email the pass's holder its download link (the address is in the operation only)."""
    return status_of(run_email(job_context(), correlation_id))
