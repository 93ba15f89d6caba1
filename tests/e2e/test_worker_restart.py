"""Jobs survive a stopped worker: they wait in Redis and complete when it comes back;
a job cancelled while it waits never runs."""

from __future__ import annotations

import time
from typing import Any

import redis

from config.celery import INTERACTIVE_QUEUE
from tests.support.api_client import ApiClient
from tests.support.processes import ManagedProcess, wait_until


def test_queued_jobs_complete_after_worker_restart(
    worker: ManagedProcess, demo: ApiClient, db: Any, redis_url: str
) -> None:
    worker.stop()
    try:
        accepted = [demo.create_pass("loyalty", metadata={"n": i}).json() for i in range(6)]
        to_cancel = accepted.pop()
        time.sleep(1.0)
        # Nothing consumes the queue: the jobs wait in Redis, the operations stay queued.
        assert redis.Redis.from_url(redis_url).llen(INTERACTIVE_QUEUE) >= 6
        for item in accepted:
            assert demo.operation(item["correlationId"]).json()["status"] == "queued"
        cancelled = demo.cancel(to_cancel["correlationId"])
        assert cancelled.status_code == 202
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["counters"]["cancelled"] == 1
    finally:
        worker.start()

    for item in accepted:
        operation = demo.wait_for_final(item["correlationId"])
        assert operation["status"] == "completed"
        assert db.passes.count_documents({"_id": item["passId"]}) == 1
    # The cancelled job was delivered too, and the worker did nothing with it.
    wait_until(lambda: "'cancelled'" in worker.output(), 20, what="the cancelled job to run")
    assert demo.operation(to_cancel["correlationId"]).json()["status"] == "cancelled"
    assert db.passes.count_documents({"_id": to_cancel["passId"]}) == 0
