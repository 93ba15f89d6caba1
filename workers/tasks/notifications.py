"""The deferred-alerts sender, sent by Celery beat every DEFERRED_ALERTS_INTERVAL_S seconds
(on the `delivery` queue by its `passwire.delivery.` prefix)."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from config.celery import SEND_DEFERRED_ALERTS
from shared.infra.clock import utcnow
from shared.notifications.deferred import send_due
from workers.base import PasswireTask
from workers.tasks.context import job_context


@shared_task(name=SEND_DEFERRED_ALERTS, base=PasswireTask, bind=True)
def send_deferred_alerts(self: PasswireTask, *, now: str | None = None) -> int:
    """Send the alerts whose quiet hours are over; how many. `now` (ISO 8601) sends what is
    due by then instead of by the clock: for tests, or an operator ending quiet hours early."""
    due_by = utcnow() if now is None else datetime.fromisoformat(now)
    return send_due(job_context(), now=due_by)
