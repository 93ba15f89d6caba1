"""Alert budgets (shared/notifications/budgets.py) against the real Redis: 5 messages to a pass
within 24 h alert 3 times per wallet and go silent twice, exactly, with two processes racing
for the same passes; an injectable clock moves the rolling window; a dry run spends nothing."""

from __future__ import annotations

import multiprocessing
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from shared.notifications import budgets
from shared.notifications.campaign import for_campaign
from shared.notifications.config import NotificationPolicy

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
MESSAGES = 5
PASSES = 40
POLICY = NotificationPolicy()  # 3 Apple alerts per pass per 24 h; Google's 3 per object


def a_pass(run: str, index: int) -> dict[str, Any]:
    pass_id = f"{run}-{index}"
    return {
        "_id": pass_id,
        "tenant": "budget-test",
        "passType": "loyalty",
        "apple": {"passTypeIdentifier": "pass.x"},
        "google": {"objectId": f"1.{pass_id}"},
        "googleHolder": "saved",  # saved in Google Wallet: Google alerts spend its budget
    }


def deliver(
    redis_url: str, run: str, message: int, now: datetime, spend: bool = True
) -> list[tuple[bool, bool]]:
    """A campaign batch's decisions for message `message` over every pass of the run."""
    operation = {"_id": f"{run}-msg-{message}", "message": {"content": "Hi"}}
    notes = for_campaign(redis.Redis.from_url(redis_url), POLICY, operation, now, spend=spend)
    assert notes is not None
    passes = [a_pass(run, index) for index in range(PASSES)]
    notes.read_budgets(passes)  # as a batch does: read once, possibly stale by the time it spends
    made = [notes.decision(document) for document in passes]
    return [(d.alert_apple, d.alert_google) for d in made]


def _worker(redis_url: str, run: str, messages: list[int], start: Any, out: Any) -> None:
    start.wait()
    for message in messages:
        out.put((message, deliver(redis_url, run, message, T0 + timedelta(minutes=message))))


def test_five_messages_in_a_day_alert_three_times_with_two_processes_racing(redis_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    spawn = multiprocessing.get_context("spawn")
    start, out = spawn.Barrier(2), spawn.Queue()
    # Each message's batch runs in one process, as on two workers; both start at once.
    workers = [
        spawn.Process(target=_worker, args=(redis_url, run, [0, 2, 4], start, out)),
        spawn.Process(target=_worker, args=(redis_url, run, [1, 3], start, out)),
    ]
    for process in workers:
        process.start()
    results = dict(out.get(timeout=120) for _ in range(MESSAGES))
    for process in workers:
        process.join(30)
        assert process.exitcode == 0

    for index in range(PASSES):
        per_message = [results[message][index] for message in range(MESSAGES)]
        assert sum(apple for apple, _ in per_message) == 3, per_message
        assert sum(google for _, google in per_message) == 3, per_message
    client = redis.Redis.from_url(redis_url)
    assert budgets.peek(client, a_pass(run, 0), T0 + timedelta(hours=1)).apple_spent == 3


def test_the_window_rolls_and_a_redelivered_batch_spends_once(redis_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    hourly = [deliver(redis_url, run, m, T0 + timedelta(hours=m))[0] for m in range(MESSAGES)]
    assert hourly == [(True, True)] * 3 + [(False, False)] * 2
    # The same batch delivered again (same message id) keeps its alert, spending nothing more.
    assert deliver(redis_url, run, 0, T0 + timedelta(hours=5))[0] == (True, True)
    # 24 h after the first alert, one alert is free again; a dry run sees it but spends nothing.
    later = T0 + timedelta(hours=24, minutes=1)
    assert deliver(redis_url, run, 9, later, spend=False)[0] == (True, True)
    assert deliver(redis_url, run, 10, later, spend=False)[0] == (True, True)
    assert deliver(redis_url, run, 11, later)[0] == (True, True)
    assert deliver(redis_url, run, 12, later)[0] == (False, False)
