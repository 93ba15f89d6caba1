"""Queue depth and the oldest job's age, as the metrics server reads them from a real Redis:
jobs enqueued the way the API enqueues them carry their enqueue time."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from config.settings import Settings
from shared.jobs import CREATE_PASS, JobQueue
from workers.metrics_server import StateCollector, sent_at


@pytest.fixture
def own_broker(settings: Settings) -> Iterator[Settings]:
    url = urlunsplit(urlsplit(settings.redis_url)._replace(path="/9"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield dataclasses.replace(settings, redis_url=url, broker_url=url)
    client.flushdb()


def test_queued_jobs_give_each_queue_its_depth_and_oldest_age(own_broker: Settings) -> None:
    before = time.time()
    queue = JobQueue(own_broker)
    queue.enqueue(CREATE_PASS, correlation_id="metrics-1")  # interactive
    queue.enqueue(CREATE_PASS, correlation_id="metrics-2")
    queue.enqueue("passwire.campaigns.batch", correlation_id="metrics-3")  # bulk
    raw = redis.Redis.from_url(own_broker.broker_url).lindex("interactive", -1)
    stamp = sent_at(raw)
    assert stamp is not None and before <= stamp <= time.time()

    families = {family.name: family for family in StateCollector(own_broker)._queues()}
    depth = {s.labels["queue"]: s.value for s in families["passwire_queue_depth"].samples}
    assert depth == {"interactive": 2, "bulk": 1, "delivery": 0}
    age = {
        s.labels["queue"]: s.value for s in families["passwire_queue_oldest_age_seconds"].samples
    }
    assert age["delivery"] == 0
    # The oldest waiting job's age: from its own enqueue time to the scrape (0 if unknown).
    assert 0 < age["interactive"] <= time.time() - before
    assert 0 < age["bulk"] <= age["interactive"]
