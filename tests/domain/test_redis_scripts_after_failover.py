"""The Lua scripts (rate limiter, notification budgets) against a Redis whose script cache is
empty, as a replica promoted by Sentinel is: each is loaded again on NOSCRIPT and counts on,
through the factory's client (shared/infra/redis_clients.py). The fail-over itself, with real
sentinels, is tests/faults/test_sentinel_failover.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.infra.ratelimit import NotificationBudget, SlidingWindowLimiter
from shared.infra.redis_clients import connect
from shared.notifications import budgets
from shared.notifications.config import NotificationPolicy
from shared.notifications.policy import Decision

NOW = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


def test_the_limiter_counts_on_after_the_script_cache_is_flushed(redis_url: str) -> None:
    client = connect(redis_url)
    limiter = SlidingWindowLimiter(client, f"test:limiter:{uuid.uuid4().hex}", 3, window_s=60)
    assert limiter.try_acquire() == 0
    client.script_flush()
    assert [limiter.try_acquire() == 0 for _ in range(3)] == [True, True, False]


def test_a_notification_budget_is_spent_exactly_after_the_script_cache_is_flushed(
    redis_url: str,
) -> None:
    client = connect(redis_url)
    budget = NotificationBudget(client, f"test:budget:{uuid.uuid4().hex}:", limit=2)
    assert budget.spend("object") is not None
    client.script_flush()
    assert [budget.spend("object") is not None for _ in range(2)] == [True, False]


def test_alert_budgets_alert_three_times_then_go_silent_across_a_flush(redis_url: str) -> None:
    client = connect(redis_url)
    document = {
        "_id": uuid.uuid4().hex,
        "tenant": "flush-test",
        "passType": "loyalty",
        "apple": {"passTypeIdentifier": "pass.x"},
        "google": {"objectId": f"1.{uuid.uuid4().hex}"},
    }
    wanted = Decision(alert_apple=True, alert_google=True)
    alerts = []
    for message in range(5):
        client.script_flush()  # every message meets a master that never saw the script
        made = budgets.consume(
            client, document, wanted, NotificationPolicy(), message_id=f"m{message}", now=NOW
        )
        alerts.append((made.alert_apple, made.alert_google))
    assert alerts == [(True, True)] * 3 + [(False, False)] * 2
