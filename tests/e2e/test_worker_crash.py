"""A worker killed with SIGKILL in the middle of a campaign (issue #5): after a restart the
campaign completes, and every counter is exact.

When to kill. A batch writes its passes, pushes their devices, PATCHes their Google objects
one by one, then records its counts once (by batch id) and is acknowledged. The test kills
the worker while a batch is amid its Google calls, the moment with the most done and nothing
counted: it waits until a not yet recorded batch in flight has its tenth object PATCHed at the
fake Google, then `os.killpg(SIGKILL)` the Celery main process and its prefork children at
once, so nothing is left to hand the message back. Redone, that batch pushes some devices and
PATCHes some objects a second time (at least once at the edges), but counts each pass once.

How the lost batches come back. Batches are acknowledged after they ran (`task_acks_late`),
so the killed worker's stay unacknowledged in Redis. kombu's Redis transport puts such a
message back on its queue only once it is older than the visibility timeout, and a worker
looks for them when it starts (`on_poll_init`) and then about every 100 s
(`unacked_restore_interval` 10 s times `unacked_restore_throttle` 10). The settings keep
`CELERY_TASK_TIME_LIMIT` >= 60 s and below `CELERY_VISIBILITY_TIMEOUT`, so the shortest
timeout is 61 s, and these workers run with 61/60. The worker is restarted at once: it runs
every batch still queued (each enqueues the next), and the campaign then waits for the lost
ones alone; once they are older than 61 s and the worker is idle, it is restarted again, and
that start restores them. About 90 s on the 2-core test machine, two thirds of it the
visibility timeout.

Which worker holds the batches. This module does not use the session's `worker` fixture, but
an earlier module may have started it, and it consumes every queue: it would take some of the
campaign's batches, and perhaps none would be in flight in the worker that gets killed. So
for the length of the test every other worker is told (Celery remote control,
`cancel_consumer`) to stop consuming `bulk`, and to resume after. The test's own worker
consumes `bulk` only, so it holds the campaign's batches when it dies.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from config.celery import BULK_QUEUE
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.campaigns import BATCH_TASK
from tests.e2e.test_push_updates import start_campaign
from tests.support.api_client import ApiClient
from tests.support.broker import TaskMessage, queue_withheld, queued_tasks, unacked_tasks
from tests.support.google import FakeGoogleProcess
from tests.support.processes import ManagedProcess, wait_until, worker_command
from tests.support.wallet_passes import WalletSeeder

PASSES = 3000  # 30 batches of 100 (PASSWIRE_CAMPAIGN_BATCH_SIZE in the tests)
OLD_POINTS, NEW_POINTS = 120, 777
VISIBILITY_TIMEOUT_S = 61  # the shortest the settings allow (task time limit >= 60 s)
TASK_TIME_LIMIT_S = 60


@pytest.fixture
def seeder(db: Any, settings: Any, fake_google_server: FakeGoogleProcess) -> WalletSeeder:
    return WalletSeeder(db, settings, fake_google_server)


@pytest.fixture
def bulk_worker(stack_env: dict[str, str], redis_url: str) -> Iterator[ManagedProcess]:
    """A worker consuming `bulk` alone, with the shortest visibility timeout; every other
    worker is kept off `bulk` meanwhile."""
    env = {
        **stack_env,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
        "CELERY_TASK_TIME_LIMIT": str(TASK_TIME_LIMIT_S),
    }
    process = ManagedProcess("crash-worker", worker_command(BULK_QUEUE, "crash"), env, r"\bready\.")
    with queue_withheld(redis_url, BULK_QUEUE) as withheld:
        print(f"\nworkers kept off {BULK_QUEUE} meanwhile: {withheld or 'none running'}")
        try:
            yield process
        finally:
            process.stop()


def kill_9(process: ManagedProcess) -> None:
    """SIGKILL the worker's whole process group: the main process and its pool children."""
    assert process.process is not None
    os.killpg(process.process.pid, signal.SIGKILL)
    process.process.wait(10)


def recorded_batches(db: Any, correlation_id: str) -> set[str]:
    found = db.operations.find_one({"_id": correlation_id}, {"recordedBatches": 1})
    return set(found["recordedBatches"])


def test_a_campaign_survives_kill_9_of_its_worker_with_exact_counters(  # noqa: PLR0917 - fixtures
    bulk_worker: ManagedProcess,
    demo: ApiClient,
    db: Any,
    redis_url: str,
    seeder: WalletSeeder,
    fake_apns: FakeApnsControl,
    fake_google: FakeGoogleControl,
) -> None:
    tag = secrets.token_hex(6)
    seeded = seeder.seed(tag, [OLD_POINTS] * PASSES)
    started = time.monotonic()
    bulk_worker.start()
    body = {
        "filter": {"metadata": {"campaign": [tag]}},
        "data": {"additionalData": {"points": NEW_POINTS}},
    }
    correlation_id = start_campaign(demo, body)

    pass_ids = [item.pass_id for item in seeded]
    object_ids = {item.pass_id: item.object_id for item in seeded}

    def amid_google_calls() -> TaskMessage | None:
        # A batch whose tenth object Google already holds with the new points, and not yet
        # counted: the worst moment to die (its passes written, their devices pushed, some
        # objects PATCHed, nothing counted). Batches PATCH their passes in order.
        if demo.operation(correlation_id).json()["counters"]["processed"] < PASSES // 5:
            return None
        for message in unacked_tasks(redis_url):
            if message.kwargs.get("correlation_id") != correlation_id:
                continue
            tenth = seeder.google_object(object_ids[message.kwargs["pass_ids"][9]])
            patched = tenth["loyaltyPoints"]["balance"]["string"] == str(NEW_POINTS)
            if patched and message.kwargs["batch_id"] not in recorded_batches(db, correlation_id):
                return message
        return None

    target = wait_until(amid_google_calls, 120, interval=0.02, what="a batch amid its calls")
    kill_9(bulk_worker)
    at_kill = demo.operation(correlation_id).json()
    assert at_kill["status"] == "running", at_kill
    assert at_kill["counters"]["processed"] < PASSES
    lost = [
        message
        for message in unacked_tasks(redis_url)
        if message.task == BATCH_TASK and message.kwargs["correlation_id"] == correlation_id
    ]
    assert lost, "the killed worker held no batch of the campaign"
    lost_ids = {pass_id for message in lost for pass_id in message.kwargs["pass_ids"]}
    unrecorded = [
        m for m in lost if m.kwargs["batch_id"] not in recorded_batches(db, correlation_id)
    ]
    objects = fake_google.state(include_log=False)["objects"]
    print(
        f"\nkilled amid {target.kwargs['batch_id']} at {at_kill['counters']['processed']}/"
        f"{PASSES}: {describe(db, lost, objects, object_ids)}"
    )

    # Restarted at once, it runs the batches still queued (each enqueues the next one), but
    # not the lost ones: they stay with the broker until they are older than the timeout.
    bulk_worker.start()
    lost_batches = {message.kwargs["batch_id"] for message in lost}
    visible_at = max(message.delivered_at for message in lost) + VISIBILITY_TIMEOUT_S

    def only_the_lost_ones_left() -> bool:
        # Nothing of the campaign queued or running but the lost batches: the worker is idle.
        pending = queued_tasks(redis_url, BULK_QUEUE) + unacked_tasks(redis_url)
        return time.time() > visible_at + 0.5 and all(
            message.kwargs.get("correlation_id") != correlation_id
            or message.kwargs.get("batch_id") in lost_batches
            for message in pending
        )

    wait_until(only_the_lost_ones_left, 150, interval=0.5, what="the lost batches alone")
    waiting = demo.operation(correlation_id).json()
    assert waiting["status"] == "running", waiting
    assert not {m.kwargs["batch_id"] for m in unrecorded} & recorded_batches(db, correlation_id)
    print(f"waiting for the lost batches at {waiting['counters']['processed']}/{PASSES}")
    bulk_worker.stop()
    bulk_worker.start()  # its start gives the lost batches back to the queue

    operation = demo.wait_for_final(correlation_id, timeout=60)
    print(f"killed, restarted and completed in {time.monotonic() - started:.1f} s")
    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert counters["total"] == counters["processed"] == counters["succeeded"] == PASSES
    assert (counters["failed"], counters["unchanged"], counters["cancelled"]) == (0, 0, 0)
    assert counters["apple"] == {"pushed": PASSES, "failed": 0, "unregistered": 0}
    google = counters["google"]
    assert (google["patched"], google["inserted"], google["failed"]) == (PASSES, 0, 0)

    # At least once at the edges: every device pushed, every object PATCHed to the new
    # points; twice at most, and only for passes of the batches the kill interrupted.
    pushes = Counter(push["token"] for push in fake_apns.pushes())
    assert set(pushes) == {item.push_token for item in seeded}
    assert {item.pass_id for item in seeded if pushes[item.push_token] > 1} <= lost_ids
    objects = fake_google.state(include_log=False)["objects"]
    patch_counts = {item.pass_id: objects[item.object_id]["patch_count"] for item in seeded}
    assert min(patch_counts.values()) == 1
    assert {pass_id for pass_id, count in patch_counts.items() if count > 1} <= lost_ids
    assert {
        objects[item.object_id]["resource"]["loyaltyPoints"]["balance"]["string"] for item in seeded
    } == {str(NEW_POINTS)}

    stored = list(db.passes.find({"_id": {"$in": pass_ids}}))
    assert len(stored) == PASSES
    assert {d["version"] for d in stored} == {2}  # written once, even when run twice
    assert {d["additionalData"]["points"] for d in stored} == {NEW_POINTS}
    assert not any("applePushPending" in d for d in stored)
    assert all(d["google"]["syncedHash"] == d["google"]["contentHash"] for d in stored)
    wait_until(
        lambda: (
            not [
                m
                for m in unacked_tasks(redis_url)
                if m.kwargs.get("correlation_id") == correlation_id
            ]
        ),
        10,
        what="every batch acknowledged",
    )


def describe(
    db: Any, lost: list[TaskMessage], objects: dict[str, Any], object_ids: dict[str, str]
) -> str:
    """What the kill interrupted, batch by batch (for the log: where it lands varies)."""
    parts = []
    for message in sorted(lost, key=lambda m: m.kwargs["batch_id"]):
        ids = message.kwargs["pass_ids"]
        found = list(db.passes.find({"_id": {"$in": ids}}, {"version": 1, "applePushPending": 1}))
        written = sum(d["version"] == 2 for d in found)
        owing = sum("applePushPending" in d for d in found)
        patched = sum(objects[object_ids[pass_id]]["patch_count"] > 0 for pass_id in ids)
        recorded = message.kwargs["batch_id"] in recorded_batches(
            db, message.kwargs["correlation_id"]
        )
        parts.append(
            f"{message.kwargs['batch_id']} {'recorded' if recorded else 'not recorded'}: "
            f"{written} written, {owing} owing a push, {patched} PATCHed at Google"
        )
    return "; ".join(parts)
