"""Webhook delivery jobs (`passwire.delivery.webhook`, on the `delivery` queue).

A job makes one attempt and, when another is due, enqueues its successor with a countdown
(the attempt number rides along, so duplicate jobs are recognised). Countdowns stay below
the broker's visibility timeout minus the task time limit: Redis would hand a job held
longer than that to a second worker. A longer wait is made of several hops.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from celery import shared_task

from shared.infra import process_clients
from shared.infra.clock import utcnow
from shared.webhooks.delivery import deliver
from shared.webhooks.events import DELIVER_WEBHOOK, send
from shared.webhooks.policy import RetryPolicy
from workers.base import PasswireTask
from workers.runtime import database, settings

log = logging.getLogger(__name__)


class WebhookTask(PasswireTask):
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # A webhook job that gives up does not fail the operation its event came from; the
        # delivery stays pending for requeue_overdue.
        log.error(
            "webhook delivery %s: job gave up: %s", kwargs.get("delivery_id"), type(exc).__name__
        )


def _session() -> requests.Session:
    """One HTTP session (connection pool) per process, never shared across a fork."""
    return process_clients.get(("webhook-session",), requests.Session)


def max_countdown_s() -> float:
    return float(max(1, settings.broker_visibility_timeout - settings.task_time_limit))


@shared_task(name=DELIVER_WEBHOOK, base=WebhookTask, bind=True)
def deliver_webhook(
    self: WebhookTask,
    *,
    tenant_id: str,
    delivery_id: str,
    attempt: int = 1,
    correlation_id: str | None = None,
) -> str:
    """Make one attempt of a webhook delivery; enqueue the next one when it is due later."""
    outcome = deliver(
        database(),
        tenant_id,
        delivery_id,
        _session(),
        now=utcnow(),
        attempt=attempt,
        policy=RetryPolicy.from_settings(settings),
    )
    if outcome.retry_in is not None and outcome.next_attempt is not None:
        kwargs: dict[str, Any] = {
            "tenant_id": tenant_id,
            "delivery_id": delivery_id,
            "attempt": outcome.next_attempt,
        }
        if correlation_id is not None:
            kwargs["correlation_id"] = correlation_id
        send(self.app, kwargs, countdown=min(outcome.retry_in, max_countdown_s()))
    return outcome.status
