"""Delivering one webhook attempt: claim it, POST the signed body, record what happened.

Each attempt is claimed once (attempt number + a lease on the document), so duplicate or
early jobs, which Celery's at-least-once delivery can produce, never send an attempt twice
and never shift the schedule; a worker that dies mid-attempt leaves it to the job's next
delivery once the lease expires.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

from shared.infra import metrics
from shared.repositories import webhook_deliveries as repo
from shared.webhooks import signing
from shared.webhooks.policy import DELIVERED, FAILED, RETRY, RetryPolicy, classify

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

TIMEOUT_S = 5
LEASE_S = 60  # longer than any attempt (connect + read timeouts)
EARLY_SLACK_S = 1.0  # clocks of different workers disagree a little
USER_AGENT = "passwire-webhooks/1"
# Outcomes that are not an attempt.
WAIT = "wait"  # not due yet or held by another worker: enqueue again later
SKIPPED = "skipped"  # unknown, finished, or this attempt was already made


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | failed | retry | wait | skipped
    attempt: int
    # When set, enqueue the job again with this countdown, for attempt `next_attempt`.
    retry_in: float | None = None
    next_attempt: int | None = None


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    error: str | None
    retry_after_s: float | None
    seconds: float


def deliver(
    db: Database[Any],
    tenant_id: str,
    delivery_id: str,
    http_session: requests.Session,
    *,
    now: datetime,
    attempt: int = 1,
    policy: RetryPolicy,
    environ: Mapping[str, str] = os.environ,
) -> Outcome:
    """Make attempt number `attempt` (1-based) of a delivery, if it is still to be made."""
    document = repo.find_delivery(db, tenant_id, delivery_id)
    if document is None or _made(document, attempt):
        return Outcome(SKIPPED, attempt)
    wait = _wait_s(document, now)
    if wait > EARLY_SLACK_S:
        return Outcome(WAIT, attempt, retry_in=wait, next_attempt=attempt)
    lease_until = now + timedelta(seconds=LEASE_S)
    if (
        repo.claim_attempt(db, delivery_id, attempt=attempt, now=now, lease_until=lease_until)
        is None
    ):
        current = repo.find_delivery(db, tenant_id, delivery_id)
        if current is None or _made(current, attempt):
            return Outcome(SKIPPED, attempt)
        return Outcome(WAIT, attempt, retry_in=max(_wait_s(current, now), 1), next_attempt=attempt)

    answer = _post(http_session, document, attempt, environ, now)
    outcome = _record(db, document, attempt, answer, policy=policy, started=now)
    metrics.count_webhook_attempt(tenant_id, outcome.status)
    return outcome


def _record(
    db: Database[Any],
    document: Mapping[str, Any],
    attempt: int,
    answer: _Answer,
    *,
    policy: RetryPolicy,
    started: datetime,
) -> Outcome:
    """Store the attempt's result on the delivery (once) and say what comes next."""
    finished = started + timedelta(seconds=answer.seconds)
    verdict = classify(answer.status_code) if answer.error is None else RETRY
    if verdict == RETRY and attempt >= policy.max_attempts:
        verdict = FAILED
    error = answer.error or (None if verdict == DELIVERED else f"HTTP {answer.status_code}")
    changes: dict[str, Any] = {
        "lastAttemptAt": finished,
        "lastStatus": answer.status_code,
        "lastError": error,
        "leaseUntil": finished,
        "updatedAt": finished,
    }
    delay: float | None = None
    if verdict != DELIVERED:
        changes["lastFailure"] = {"at": finished, "status": answer.status_code, "error": error}
    if verdict == RETRY:
        delay = policy.delay_after(attempt, answer.retry_after_s)
        changes["nextAttemptAt"] = finished + timedelta(seconds=delay)
    else:
        changes.update(status=verdict, finishedAt=finished)
    entry = {
        "attempt": attempt,
        "at": finished,
        "status": answer.status_code,
        "error": error,
        "durationMs": round(answer.seconds * 1000),
    }
    delivery_id = document["_id"]
    if not repo.record_attempt(db, delivery_id, attempt=attempt, changes=changes, entry=entry):
        log.warning("webhook delivery %s: attempt %d was recorded elsewhere", delivery_id, attempt)
        return Outcome(SKIPPED, attempt)
    log.info(
        "webhook delivery %s (endpoint %s, attempt %d): %s%s",
        delivery_id,
        document["endpoint"]["id"],
        attempt,
        verdict,
        f" ({error})" if error else "",
    )
    if delay is None:
        return Outcome(verdict, attempt)
    return Outcome(verdict, attempt, retry_in=delay, next_attempt=attempt + 1)


def _made(document: Mapping[str, Any], attempt: int) -> bool:
    """Finished, or this attempt was already made (a duplicate or stale job)."""
    return bool(document["status"] != "pending" or document["attempts"] != attempt - 1)


def _wait_s(document: Mapping[str, Any], now: datetime) -> float:
    due = max(document["nextAttemptAt"], document["leaseUntil"])
    return float((due - now).total_seconds())


def _post(
    http_session: requests.Session,
    document: Mapping[str, Any],
    attempt: int,
    environ: Mapping[str, str],
    now: datetime,
) -> _Answer:
    endpoint = document["endpoint"]
    secret = environ.get(endpoint["secretEnv"])
    if not secret:
        return _Answer(None, f"signing secret {endpoint['secretEnv']} is not set", None, 0.0)
    body = document["body"].encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.sign(secret, body, int(now.timestamp())),
        signing.EVENT_ID_HEADER: document["eventId"],
        signing.EVENT_TYPE_HEADER: document["type"],
        signing.DELIVERY_ID_HEADER: document["_id"],
        signing.ATTEMPT_HEADER: str(attempt),
    }
    started = time.monotonic()
    try:
        # No redirects (a 3xx is retried like any unexpected answer); the body is never read.
        with http_session.post(
            endpoint["url"],
            data=body,
            headers=headers,
            timeout=TIMEOUT_S,
            allow_redirects=False,
            stream=True,
        ) as response:
            status_code = response.status_code
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except requests.Timeout:
        return _Answer(None, f"timed out after {TIMEOUT_S} s", None, time.monotonic() - started)
    except requests.ConnectionError:
        return _Answer(None, "connection failed", None, time.monotonic() - started)
    except requests.RequestException as exc:  # error texts may carry the URL: not stored
        return _Answer(None, type(exc).__name__, None, time.monotonic() - started)
    return _Answer(status_code, None, retry_after, time.monotonic() - started)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored)."""
    return float(value) if value is not None and value.strip().isdigit() else None
