"""A Redis fail-over under Sentinel (issue 19): the API, the workers and beat reach Redis through
`REDIS_URL=sentinel://…` (broker, locks, limiters, notification budgets), a 2,000-pass campaign
runs, and the master is killed with SIGKILL a quarter of the way in. Sentinel promotes the
replica; the campaign still ends `completed` with exact counters (MongoDB holds the truth, the
watchdog re-sends what the promotion lost: docs/delivery-guarantees.md), and afterwards the
notification budgets and the rate limiter count on the promoted master, whose script cache
is flushed first (the worst case: a master that never saw the Lua scripts answers NOSCRIPT).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from config.celery import QUEUES
from config.settings import Settings
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.infra.ratelimit import SlidingWindowLimiter
from shared.infra.redis_clients import connect
from tests.faults.sentinel import SentinelDeployment
from tests.faults.stack import FaultStack, running_stack
from tests.faults.test_campaign_faults import (
    _assert_completed_exactly,
    _demo,
    _finish,
    _start,
    _wait_for_progress,
)
from tests.support.processes import ManagedProcess, flower_command, free_port, wait_until
from tests.support.wallet_passes import WalletSeeder

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

MESSAGES = 5  # to one pass after the fail-over: 3 alert (the daily budget), 2 go silent
LIMIT = 3  # calls per window of the limiter checked after the fail-over
FLOWER_AUTH = ("operator", "s3cret-for-tests")


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelDeployment]:
    deployment = SentinelDeployment(tmp_path / "sentinel")
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@pytest.fixture
def sentinel_stack(
    stack_env: dict[str, str],
    settings: Settings,
    tmp_path: Path,
    sentinels: SentinelDeployment,
) -> Iterator[FaultStack]:
    with running_stack(stack_env, settings, tmp_path, redis_url=sentinels.url) as stack:
        yield stack


def _flower_sees(stack: FaultStack) -> tuple[list[str], list[str]]:
    """Flower started after the fail-over: the queues it reads from the promoted master, and
    the workers that answer it through the broker."""
    port = free_port()
    env = {**stack.env, "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH)}
    flower = ManagedProcess("fault-flower", flower_command(port), env, r"Connected to")
    flower.start()
    try:

        def get(path: str) -> Any:
            response = requests.get(f"http://127.0.0.1:{port}{path}", auth=FLOWER_AUTH, timeout=20)
            return response.json() if response.status_code == 200 else None

        queues = wait_until(lambda: get("/api/queues/length"), 30, what="Flower's queue lengths")
        workers = wait_until(lambda: get("/api/workers?refresh=1"), 30, what="Flower's workers")
    finally:
        flower.stop()
    return sorted(q["name"] for q in queues["active_queues"]), sorted(workers)


def _message(stack: FaultStack, pass_id: str, number: int) -> dict[str, Any]:
    demo = _demo(stack)
    response = demo.session.put(
        demo.url(f"/passes/{pass_id}/notification"),
        json={"message": {"content": f"After the fail-over {number}"}},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    operation = demo.wait_for_final(response.json()["correlationId"], timeout=120)
    assert operation["status"] == "completed", operation
    counters: dict[str, Any] = operation["counters"]
    return counters


def test_a_campaign_survives_the_masters_death_and_sentinel_promotes_the_replica(
    sentinel_stack: FaultStack,
    sentinels: SentinelDeployment,
    *,
    seeder: WalletSeeder,
    db: Any,
    fake_apns: FakeApnsControl,
    fake_google: FakeGoogleControl,
    record_figure: Callable[[str], None],
) -> None:
    stack = sentinel_stack
    # Made before the fail-over, like a worker's: its script was loaded on the old master.
    limiter = SlidingWindowLimiter(connect(sentinels.url), "failover-check", LIMIT, window_s=60)
    assert limiter.try_acquire() == 0

    correlation_id, seeded = _start(stack, seeder)
    _wait_for_progress(stack, correlation_id)
    sentinels.kill_master()
    killed = time.monotonic()
    wait_until(
        lambda: sentinels.reported_master_ports() == {sentinels.replica_port},
        60,
        interval=0.1,
        what="the sentinels to promote the replica",
    )
    promoted_in = time.monotonic() - killed
    operation = _finish(
        stack,
        correlation_id,
        killed,
        record_figure,
        f"Redis master killed under Sentinel (replica promoted in {promoted_in:.1f} s)",
    )
    _assert_completed_exactly(db, fake_apns, operation, seeded)
    assert operation["counters"]["google"]["failed"] == 0

    # The promoted master, with an empty script cache: every script must be loaded again.
    promoted = redis.Redis(port=sentinels.replica_port)
    assert promoted.info("replication")["role"] == "master"
    promoted.script_flush()

    # Notification budgets (Lua, in the workers): 3 alerts a day per pass, then silent.
    item = seeded[0]
    counters = [_message(stack, item.pass_id, number) for number in range(MESSAGES)]
    assert [c["google"]["notified"] for c in counters] == [1, 1, 1, 0, 0]
    assert [c["google"].get("notificationSuppressed", 0) for c in counters] == [0, 0, 0, 1, 1]
    assert [c["apple"].get("notified", 0) for c in counters] == [1, 1, 1, 0, 0]
    assert [c["apple"].get("notificationSuppressed", 0) for c in counters] == [0, 0, 0, 1, 1]
    sent = fake_google.object(item.object_id)
    assert sent is not None
    assert [m["messageType"] for m in sent["messages"]][-MESSAGES:] == ["TEXT_AND_NOTIFY"] * 3 + [
        "TEXT"
    ] * 2
    budget_key = f"passwire:apple:notify:demo:{item.pass_id}"
    assert promoted.zcard(budget_key) == 3  # counted on the promoted master

    # The rate limiter (Lua, Google's quota per issuer): still counts, on the promoted master.
    assert [limiter.try_acquire() == 0 for _ in range(LIMIT)] == [True, True, False]
    assert promoted.zcard("failover-check") == LIMIT
    assert fake_google.counters().get("rate_limited", 0) == 0

    # Flower, through kombu's Sentinel transport like the workers.
    queues, workers = _flower_sees(stack)
    assert queues == sorted(QUEUES)
    assert any(name.startswith("fault") for name in workers), workers
