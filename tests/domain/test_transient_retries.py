"""Jobs retry dropped connections to Redis and MongoDB on a time budget, in the process (the
broker may be what is down); a campaign job that gives up leaves its operation running for the
watchdog, any other job ends `failed` with the reason; a bug is not retried."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from celery import Celery
from pymongo.errors import ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError

from shared import operations
from workers import base
from workers.tasks.campaigns import CampaignTask
from workers.tasks.webhooks import WebhookTask

BUDGET_S = 300


class Clock:
    """time.monotonic and time.sleep for the retry loop: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(base, "monotonic", fake.monotonic)
    monkeypatch.setattr(base, "sleep", fake.sleep)
    monkeypatch.setattr(base, "database", lambda: db)
    monkeypatch.setattr(base, "settings", replace(base.settings, transient_retry_budget_s=BUDGET_S))
    yield fake


def _task(task_base: type[base.PasswireTask], body: Callable[[], str]) -> Any:
    app = Celery(f"retries-{secrets.token_hex(4)}")

    @app.task(base=task_base, bind=True, name="tests.flaky")
    def flaky(self: Any, *, correlation_id: str) -> str:
        return body()

    return flaky


def _operation(db: Any) -> str:
    correlation_id = f"op-{secrets.token_hex(8)}"
    document = operations.new_operation(
        correlation_id=correlation_id, tenant_id="demo", kind="pushUpdate", total=5, intent={}
    )
    operations.create(db, document)
    operations.start(db, correlation_id)
    return correlation_id


def _failing(errors: list[Exception]) -> Callable[[], str]:
    def body() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    return body


@pytest.mark.parametrize(
    "error",
    [
        RedisConnectionError("Connection refused"),
        # A write that reached a master demoted by a fail-over (a redis:// URL naming it).
        ReadOnlyError("You can't write against a read only replica."),
        ServerSelectionTimeoutError("no servers"),
    ],
)
def test_a_dropped_connection_is_retried_until_it_is_back(
    clock: Clock, db: Any, error: Exception
) -> None:
    # Failing for four minutes, then back: within the budget, the job just completes.
    errors = [error] * 12
    task = _task(base.PasswireTask, _failing(errors))
    assert task(correlation_id=_operation(db)) == "done"
    assert errors == []
    assert max(clock.slept) <= base.MAX_BACKOFF_S
    assert 200 < sum(clock.slept) < BUDGET_S


def test_a_campaign_job_that_gives_up_leaves_its_campaign_running(clock: Clock, db: Any) -> None:
    correlation_id = _operation(db)
    task = _task(CampaignTask, _failing([RedisConnectionError("down")] * 1000))
    assert task(correlation_id=correlation_id) == "left-for-watchdog"
    assert BUDGET_S <= clock.now - 1000.0 < BUDGET_S + base.MAX_BACKOFF_S
    assert db.operations.find_one({"_id": correlation_id})["status"] == "running"


def test_another_job_that_gives_up_fails_with_the_reason(clock: Clock, db: Any) -> None:
    correlation_id = _operation(db)
    task = _task(base.PasswireTask, _failing([ServerSelectionTimeoutError("gone")] * 1000))
    # Through Celery's tracer, as a worker runs it: on_failure decides.
    result = task.apply(kwargs={"correlation_id": correlation_id})
    assert isinstance(result.result, base.TransientBudgetSpent)
    operation = db.operations.find_one({"_id": correlation_id})
    assert operation["status"] == "failed"
    assert operation["failureReason"].startswith("infrastructure unavailable for 3")
    assert "ServerSelectionTimeoutError" in operation["failureReason"]
    assert operation["counters"]["notReached"] == 5


def test_a_webhook_job_that_gives_up_does_not_fail_the_operation_of_its_event(
    clock: Clock, db: Any
) -> None:
    correlation_id = _operation(db)
    task = _task(WebhookTask, _failing([RedisConnectionError("down")] * 1000))
    result = task.apply(kwargs={"correlation_id": correlation_id})
    assert isinstance(result.result, base.TransientBudgetSpent)
    assert db.operations.find_one({"_id": correlation_id})["status"] == "running"


def test_a_bug_is_not_retried(clock: Clock, db: Any) -> None:
    task = _task(CampaignTask, _failing([KeyError("intent")]))
    with pytest.raises(KeyError):
        task(correlation_id=_operation(db))
    assert clock.slept == []
