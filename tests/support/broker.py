"""Looking into the Redis broker from the tests: the messages workers took and have not
acknowledged yet, and keeping other workers off a queue for the length of a test."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

# kombu's Redis transport keeps each delivered, unacknowledged message in this hash (by
# delivery tag) and its delivery time in this sorted set, until it is acknowledged or, once
# older than the visibility timeout, put back on its queue by a worker.
UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"
CONTROL_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class TaskMessage:
    task: str
    kwargs: dict[str, Any]
    delivered_at: float = 0.0  # epoch seconds a worker took it (unacknowledged ones only)


def _task_message(raw: dict[str, Any], delivered_at: float = 0.0) -> TaskMessage:
    _args, kwargs, _embed = json.loads(base64.b64decode(raw["body"]))
    return TaskMessage(raw["headers"]["task"], kwargs, delivered_at)


def unacked_tasks(redis_url: str) -> list[TaskMessage]:
    """Every task message taken by a worker and not acknowledged (a running task, or one
    whose worker died with it)."""
    with redis.Redis.from_url(redis_url) as client:
        delivered = dict(client.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True))
        return [
            _task_message(json.loads(value)[0], delivered.get(tag, 0.0))
            for tag, value in client.hgetall(UNACKED_KEY).items()
        ]


def queued_tasks(redis_url: str, queue: str) -> list[TaskMessage]:
    """The task messages waiting in `queue`."""
    with redis.Redis.from_url(redis_url) as client:
        return [_task_message(json.loads(raw)) for raw in client.lrange(queue, 0, -1)]


@contextmanager
def queue_withheld(broker_url: str, queue: str) -> Iterator[list[str]]:
    """Tell every running worker that consumes `queue` to stop consuming it (Celery remote
    control), and to resume when the block ends; yields their names. Workers started inside
    the block are not affected."""
    app = Celery("passwire-tests-control", broker=broker_url)
    try:
        consuming = app.control.inspect(timeout=CONTROL_TIMEOUT_S).active_queues() or {}
        names = sorted(
            name
            for name, queues in consuming.items()
            if any(entry["name"] == queue for entry in queues)
        )
        for name in names:
            _expect_ok(
                app.control.cancel_consumer(
                    queue, destination=[name], reply=True, timeout=CONTROL_TIMEOUT_S
                ),
                name,
            )
        try:
            yield names
        finally:
            for name in names:
                _expect_ok(
                    app.control.add_consumer(
                        queue, destination=[name], reply=True, timeout=CONTROL_TIMEOUT_S
                    ),
                    name,
                )
    finally:
        app.close()


def _expect_ok(replies: list[dict[str, Any]] | None, name: str) -> None:
    answers = [reply[name] for reply in replies or () if name in reply]
    assert answers and "ok" in answers[0], f"worker {name} answered {replies!r}"
