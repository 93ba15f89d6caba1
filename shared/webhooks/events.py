"""Firing events: an outbox document per subscribed endpoint, then one job per document.

    ids = emit(db, tenant.id, endpoints, "pass.created", {...}, now=utcnow())
    enqueue_deliveries(queue, tenant.id, ids)

The outbox is written first, so a delivery whose job was lost is still known
(`requeue_overdue` sends it again). With an `idempotency_key`, emitting the same event again
(a job delivered twice) reuses its event and delivery ids instead of sending a second event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from celery import Celery

from shared.apple.templates import TemplateRenderError
from shared.jobs import EnqueueError, JobQueue
from shared.repositories import webhook_deliveries as repo
from shared.webhooks.config import EVENT_TYPES, WebhookEndpoint

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

# Routed to the `delivery` queue by the `passwire.delivery.*` route (config/celery.py).
DELIVER_WEBHOOK = "passwire.delivery.webhook"
PENDING = "pending"
FAILED = "failed"

Queue: TypeAlias = "JobQueue | Celery"


def new_event_id(tenant_id: str, idempotency_key: str | None = None) -> str:
    if idempotency_key is None:
        return f"evt_{secrets.token_hex(16)}"
    digest = hashlib.sha256(f"{tenant_id}\n{idempotency_key}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def emit(
    db: Database[Any],
    tenant_id: str,
    endpoints: Iterable[WebhookEndpoint],
    event_type: str,
    data: Mapping[str, Any],
    *,
    now: datetime,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
) -> list[str]:
    """Record the event for every endpoint subscribed to its type; the delivery ids to enqueue.

    `data` must be JSON-serialisable (it is serialised here, once: every attempt sends the
    same bytes).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    targets = [endpoint for endpoint in endpoints if endpoint.subscribes_to(event_type)]
    if not targets:
        return []
    event_id = new_event_id(tenant_id, idempotency_key)
    payload: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "createdAt": now.isoformat(),
        "tenantId": tenant_id,
        "data": dict(data),
    }
    if correlation_id is not None:
        payload["correlationId"] = correlation_id
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    documents = []
    for endpoint in targets:
        shaped, problem = _shaped_body(endpoint, body)
        document = _delivery(
            tenant_id=tenant_id,
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            body=shaped,
            now=now,
            correlation_id=correlation_id,
        )
        if isinstance(data.get("passId"), str):
            # Named outside the body too: a tool's shape may not quote it (erasure finds it).
            document["passId"] = data["passId"]
        if problem is not None:
            # Never sent: listed as failed in the delivery log, with the template's error.
            document.update(status=FAILED, lastError=problem, finishedAt=now)
            document["lastFailure"] = {"at": now, "status": None, "error": problem}
        documents.append(document)
    repo.insert_deliveries(db, documents)
    return [document["_id"] for document in documents if document["status"] == PENDING]


def _shaped_body(endpoint: WebhookEndpoint, body: str) -> tuple[str, str | None]:
    """The body for `endpoint`: ours, or its template's rendering of it (a connector's
    outbound shape, checked to be JSON); with the problem when the template fails."""
    if endpoint.body_template is None:
        return body, None
    try:
        rendered = endpoint.body_template.render({"event": json.loads(body)})
        json.loads(rendered)
    except TemplateRenderError as exc:
        return "", f"body template: {exc}" + (f" (line {exc.line})" if exc.line else "")
    except ValueError:
        return "", "body template: the rendered body is not JSON"
    return rendered, None


def _delivery(
    *,
    tenant_id: str,
    endpoint: WebhookEndpoint,
    event_id: str,
    event_type: str,
    body: str,
    now: datetime,
    correlation_id: str | None,
) -> dict[str, Any]:
    return {
        "_id": f"{event_id}.{endpoint.id}",
        "tenant": tenant_id,
        "eventId": event_id,
        "type": event_type,
        "correlationId": correlation_id,
        # Where the event goes is decided when it happens; the secret is read at send time.
        "endpoint": {"id": endpoint.id, "url": endpoint.url, "secretEnv": endpoint.secret_env},
        "body": body,
        "status": PENDING,
        "attempts": 0,
        "nextAttemptAt": now,
        "leaseUntil": now,
        "lastAttemptAt": None,
        "lastStatus": None,
        "lastError": None,
        "lastFailure": None,
        "finishedAt": None,
        "history": [],
        "createdAt": now,
        "updatedAt": now,
    }


def enqueue_deliveries(
    queue: Queue,
    tenant_id: str,
    delivery_ids: Iterable[str],
    *,
    correlation_id: str | None = None,
) -> None:
    """One `passwire.delivery.webhook` job per delivery.

    `queue` is the API's JobQueue (`api.services.jobs()`) or, inside a worker, the worker's
    Celery app (`celery.current_app`, reusing its broker connections). Raises EnqueueError;
    deliveries left un-enqueued stay pending in the outbox for `requeue_overdue`.
    """
    for delivery_id in delivery_ids:
        kwargs: dict[str, Any] = {"tenant_id": tenant_id, "delivery_id": delivery_id}
        if correlation_id is not None:
            kwargs["correlation_id"] = correlation_id
        send(queue, kwargs)


def send(queue: Queue, kwargs: dict[str, Any], countdown: float | None = None) -> None:
    if isinstance(queue, JobQueue):
        if countdown is not None:
            raise ValueError("JobQueue enqueues without a countdown")
        queue.enqueue(DELIVER_WEBHOOK, **kwargs)
        return
    try:
        queue.send_task(DELIVER_WEBHOOK, kwargs=kwargs, countdown=countdown)
    except Exception as exc:  # kombu raises several connection error types
        raise EnqueueError(f"could not enqueue {DELIVER_WEBHOOK}: {type(exc).__name__}") from exc


def requeue_overdue(
    db: Database[Any], queue: Queue, *, now: datetime, grace_s: float = 600, limit: int = 1000
) -> int:
    """Enqueue again pending deliveries whose next attempt is `grace_s` overdue (their job was
    lost: a failed enqueue, a flushed broker). Duplicate jobs are harmless: each attempt is
    claimed once. Returns how many were enqueued. Meant for a periodic or start-up call."""
    found = repo.overdue(db, before=now - timedelta(seconds=grace_s), now=now, limit=limit)
    for document in found:
        kwargs: dict[str, Any] = {
            "tenant_id": document["tenant"],
            "delivery_id": document["_id"],
            "attempt": int(document["attempts"]) + 1,
        }
        if document.get("correlationId"):
            kwargs["correlation_id"] = document["correlationId"]
        send(queue, kwargs)
    if found:
        log.warning("re-enqueued %d overdue webhook deliveries", len(found))
    return len(found)
