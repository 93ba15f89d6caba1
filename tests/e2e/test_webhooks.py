"""Webhooks end to end: events recorded with `emit`, delivered by the worker process to a
receiver on loopback that checks each signature, retried after 5xx, given up after 4xx, and
reported per endpoint by the API."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from config.settings import Settings
from shared.infra.clock import utcnow
from shared.jobs import JobQueue
from shared.webhooks.config import WebhookEndpoint
from shared.webhooks.delivery import Outcome, deliver
from shared.webhooks.events import emit, enqueue_deliveries, requeue_overdue
from shared.webhooks.policy import RetryPolicy
from tests.support.api_client import ApiClient
from tests.support.processes import wait_until
from tests.support.webhooks import WEBHOOK_SECRET, WEBHOOK_SECRET_ENV, Receiver

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def receiver(webhook_receiver: Receiver) -> Receiver:
    return webhook_receiver


@pytest.fixture(scope="module")
def jobs(settings: Settings) -> JobQueue:
    return JobQueue(settings)


def endpoint(receiver: Receiver, behaviour: str, events: list[str]) -> WebhookEndpoint:
    """An endpoint of its own per test, so counts and requests are the test's alone."""
    endpoint_id = f"{behaviour}-{secrets.token_hex(4)}"
    return WebhookEndpoint(
        id=endpoint_id,
        url=f"{receiver.url}/{behaviour}/{endpoint_id}",
        events=frozenset(events),
        secret_env=WEBHOOK_SECRET_ENV,
    )


def path_of(target: WebhookEndpoint) -> str:
    return urlsplit(target.url).path


def fire(
    db: Any, jobs: JobQueue, targets: list[WebhookEndpoint], event_type: str, **emit_args: Any
) -> list[str]:
    ids = emit(db, "demo", targets, event_type, {"passId": "P-1"}, now=utcnow(), **emit_args)
    enqueue_deliveries(jobs, "demo", ids)
    return ids


def finished(db: Any, delivery_id: str, timeout: float = 20) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        document: dict[str, Any] | None = db.webhook_deliveries.find_one({"_id": delivery_id})
        return document if document and document["status"] != "pending" else None

    found: dict[str, Any] = wait_until(done, timeout, what=f"webhook {delivery_id} to finish")
    return found


def test_a_delivery_answered_500_is_retried_until_it_succeeds(
    db: Any, jobs: JobQueue, receiver: Receiver
) -> None:
    flaky = endpoint(receiver, "flaky", ["pass.created"])
    [delivery_id] = fire(db, jobs, [flaky], "pass.created")

    document = finished(db, delivery_id)
    assert document["status"] == "delivered", document
    assert document["attempts"] == 3
    assert [a["status"] for a in document["history"]] == [500, 500, 200]
    assert document["lastFailure"]["status"] == 500
    # The same event, signed anew each time, three times: the receiver can de-duplicate.
    seen = receiver.at(path_of(flaky))
    assert [r.headers["Passwire-Delivery-Attempt"] for r in seen] == ["1", "2", "3"]
    assert all(r.verified for r in seen)
    assert {r.headers["Passwire-Event-Id"] for r in seen} == {document["eventId"]}
    assert all(r.body["id"] == document["eventId"] for r in seen)
    # Backed off: the second retry waited longer than the first.
    first, second, third = (a["at"] for a in document["history"])
    assert (third - second) > (second - first)


def test_a_delivery_answered_400_fails_for_good_and_shows_per_endpoint(
    db: Any, jobs: JobQueue, receiver: Receiver, demo: ApiClient
) -> None:
    rejecting = endpoint(receiver, "reject", ["*"])
    [delivery_id] = fire(db, jobs, [rejecting], "pass.updated")

    document = finished(db, delivery_id)
    assert document["status"] == "failed", document
    assert document["attempts"] == 1
    assert len(receiver.at(path_of(rejecting))) == 1

    response = demo.session.get(demo.url("/webhooks"), timeout=10)
    assert response.status_code == 200, response.text
    [status] = [e for e in response.json()["endpoints"] if e["id"] == rejecting.id]
    assert status["url"] == rejecting.url
    assert status["counts"] == {"pending": 0, "delivered": 0, "failed": 1}
    failure = status["lastFailure"]
    assert (failure["status"], failure["error"]) == (400, "HTTP 400")
    assert failure["deliveryId"] == delivery_id
    assert failure["at"]

    response = demo.session.get(
        demo.url("/webhooks/deliveries"),
        params={"status": "failed", "endpoint": rejecting.id},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 1
    [listed] = page["deliveries"]
    assert (listed["deliveryId"], listed["type"], listed["status"]) == (
        delivery_id,
        "pass.updated",
        "failed",
    )
    assert listed["history"][0]["status"] == 400
    assert "body" not in listed


def test_the_endpoint_listing_answers_after_deliveries_that_never_failed(
    db: Any, jobs: JobQueue, receiver: Receiver, demo: ApiClient
) -> None:
    # A delivered event keeps `lastFailure: null`; the listing must not take it for a failure
    # (it answered 500 on the dev MongoDB server, whose matcher did).
    healthy = endpoint(receiver, "ok", ["*"])
    rejecting = endpoint(receiver, "reject", ["*"])
    delivered_id, failed_id = fire(db, jobs, [healthy, rejecting], "pass.updated")
    assert finished(db, delivered_id)["status"] == "delivered"
    assert finished(db, failed_id)["status"] == "failed"

    response = demo.session.get(demo.url("/webhooks"), timeout=10)
    assert response.status_code == 200, response.text
    listed = {e["id"]: e for e in response.json()["endpoints"]}
    assert listed[healthy.id]["counts"] == {"pending": 0, "delivered": 1, "failed": 0}
    assert listed[healthy.id]["lastFailure"] is None
    assert listed[rejecting.id]["counts"] == {"pending": 0, "delivered": 0, "failed": 1}
    assert listed[rejecting.id]["lastFailure"]["deliveryId"] == failed_id


def test_events_reach_subscribed_endpoints_only_and_once(
    db: Any, jobs: JobQueue, receiver: Receiver
) -> None:
    everything = endpoint(receiver, "ok", ["*"])
    updates_only = endpoint(receiver, "ok", ["pass.updated"])
    key = secrets.token_hex(8)
    ids = fire(db, jobs, [everything, updates_only], "pass.created", idempotency_key=key)
    # The same event emitted and enqueued again (a job delivered twice) is sent once.
    assert fire(db, jobs, [everything, updates_only], "pass.created", idempotency_key=key) == ids
    [delivery_id] = ids

    document = finished(db, delivery_id)
    assert document["status"] == "delivered", document
    time.sleep(1.5)  # room for the duplicate job to (not) send it again
    [received] = receiver.at(path_of(everything))
    assert received.verified
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Passwire-Event-Type"] == "pass.created"
    body = received.body
    assert set(body) == {"id", "type", "createdAt", "tenantId", "data"}
    assert (body["type"], body["tenantId"], body["data"]) == (
        "pass.created",
        "demo",
        {"passId": "P-1"},
    )
    assert receiver.at(path_of(updates_only)) == []
    assert db.webhook_deliveries.count_documents({"endpoint.id": updates_only.id}) == 0


def test_deliveries_are_listed_newest_first_in_pages(
    db: Any, jobs: JobQueue, receiver: Receiver, demo: ApiClient
) -> None:
    target = endpoint(receiver, "ok", ["*"])
    ids = []
    for kind in ("pass.created", "pass.installed", "pass.uninstalled"):
        ids += fire(db, jobs, [target], kind)
        time.sleep(0.01)  # distinct creation times (milliseconds)
    for delivery_id in ids:
        finished(db, delivery_id)

    def page(number: int) -> dict[str, Any]:
        response = demo.session.get(
            demo.url("/webhooks/deliveries"),
            params={"endpoint": target.id, "pageSize": "2", "page": str(number)},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first, second = page(1), page(2)
    assert first["total"] == 3
    listed = [d["deliveryId"] for d in first["deliveries"] + second["deliveries"]]
    assert listed == ids[::-1]

    bad = demo.session.get(demo.url("/webhooks/deliveries"), params={"status": "lost"}, timeout=10)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"


def test_each_attempt_is_made_once_and_on_time(db: Any, receiver: Receiver) -> None:
    """The domain function as duplicate, early or stale jobs would call it (no worker)."""
    target = endpoint(receiver, "flaky", ["*"])
    now = utcnow()
    [delivery_id] = emit(db, "demo", [target], "pass.created", {}, now=now)
    policy = RetryPolicy(base_s=60, max_attempts=2)
    environ = {WEBHOOK_SECRET_ENV: WEBHOOK_SECRET}

    def attempt(number: int, at: datetime, env: dict[str, str] = environ) -> Outcome:
        with requests.Session() as session:
            return deliver(
                db, "demo", delivery_id, session, now=at, attempt=number, policy=policy, environ=env
            )

    # A stale job (attempt 2 before 1) and another tenant's are ignored.
    assert attempt(2, now).status == "skipped"
    with requests.Session() as session:
        other = deliver(db, "rival", delivery_id, session, now=now, policy=policy)
    assert other.status == "skipped"
    # No secret in the environment: nothing is sent, and the attempt is retried.
    missing = attempt(1, now, env={})
    assert (missing.status, missing.next_attempt) == ("retry", 2)
    assert missing.retry_in is not None and 60 <= missing.retry_in <= 66
    document = db.webhook_deliveries.find_one({"_id": delivery_id})
    assert document["lastError"] == f"signing secret {WEBHOOK_SECRET_ENV} is not set"
    assert receiver.at(path_of(target)) == []
    # Attempt 1 again (a duplicate job) is not made twice; attempt 2 too early waits.
    assert attempt(1, now).status == "skipped"
    early = attempt(2, now + timedelta(seconds=10))
    assert (early.status, early.next_attempt) == ("wait", 2)
    assert early.retry_in is not None and early.retry_in > 40
    # On time, the last attempt gets a 500 (the receiver's first answer): failed for good.
    last = attempt(2, now + timedelta(seconds=70))
    assert (last.status, last.retry_in) == ("failed", None)
    document = db.webhook_deliveries.find_one({"_id": delivery_id})
    assert (document["status"], document["attempts"], document["lastStatus"]) == ("failed", 2, 500)
    assert len(receiver.at(path_of(target))) == 1


class RecordingQueue:
    """Stands in for the Celery app: records what would be enqueued."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_task(self, name: str, kwargs: dict[str, Any], countdown: float | None) -> None:
        assert name == "passwire.delivery.webhook"
        self.sent.append(kwargs)


def test_a_delivery_whose_job_was_lost_is_enqueued_again(db: Any, receiver: Receiver) -> None:
    target = endpoint(receiver, "ok", ["*"])
    an_hour_ago = utcnow() - timedelta(hours=1)
    [lost] = emit(db, "demo", [target], "pass.created", {}, now=an_hour_ago, correlation_id="c1")
    [recent] = emit(db, "demo", [target], "pass.created", {}, now=utcnow())
    queue = RecordingQueue()

    requeue_overdue(db, queue, now=utcnow(), grace_s=600)

    mine = [kwargs for kwargs in queue.sent if kwargs["delivery_id"] in (lost, recent)]
    assert mine == [
        {"tenant_id": "demo", "delivery_id": lost, "attempt": 1, "correlation_id": "c1"}
    ]


def test_jobs_fire_their_events(rival: ApiClient, webhook_receiver: Receiver) -> None:
    """The real emit points: a create job announces pass.created and operation.completed to
    the rival tenant's configured endpoint, signed, once each."""
    accepted = rival.create_pass("coupon").json()
    assert rival.wait_for_final(accepted["correlationId"])["status"] == "completed"

    def events() -> list[Any] | None:
        seen = [
            r
            for r in webhook_receiver.at("/ok/rival-events")
            if r.body.get("correlationId") == accepted["correlationId"]
        ]
        return seen if len(seen) >= 2 else None

    received = wait_until(events, 20, what="the job's webhook events")
    assert sorted(r.body["type"] for r in received) == ["operation.completed", "pass.created"]
    assert all(r.verified and r.body["tenantId"] == "rival" for r in received)
    created = next(r for r in received if r.body["type"] == "pass.created")
    assert created.body["data"]["passId"] == accepted["passId"]
    completed = next(r for r in received if r.body["type"] == "operation.completed")
    assert completed.body["data"]["status"] == "completed"
