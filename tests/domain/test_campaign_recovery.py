"""The campaign watchdog and the counters of campaigns that end early, on the real domain
functions and the MongoDB wire server: batches whose messages were lost are re-sent (only
those neither recorded nor leased), the walk goes on, a stalled cancellation completes without
a message, a failed campaign counts what no batch reached, and a batch that wrote its passes
but died before pushing is pushed by its campaign's recovery."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from dev.fake_apns import FakeApnsControl
from shared import operations
from shared.campaigns import PUSH_UPDATE, batches
from shared.campaigns.batches import run_batch
from shared.campaigns.planning import advance, run_plan
from shared.campaigns.recovery import Recovery, recover_stalled
from shared.campaigns.segments import Segment, to_intent
from shared.infra.clock import utcnow
from shared.passes.jobs import JobContext
from shared.passes.search import PassFilter
from shared.repositories import campaigns as repo
from tests.e2e.test_push_updates import insert_segment, register_devices

PASSES, SIZE, WINDOW = 10, 2, 2
STALL = timedelta(seconds=90)
NEW_POINTS = 9999


class Broker:
    """Stands in for Redis: the messages sent for one campaign, which the test delivers (or
    loses). The watchdog sees every stalled campaign of the database: others' are dropped."""

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self.batches: list[tuple[str, list[str]]] = []
        self.plans: list[str] = []

    def enqueue(self, batch_id: str, pass_ids: list[str]) -> None:
        self.batches.append((batch_id, pass_ids))

    def send_batch(self, tenant_id: str, correlation_id: str, batch: str, ids: list[str]) -> None:
        if correlation_id == self.correlation_id:
            self.batches.append((batch, ids))

    def send_plan(self, tenant_id: str, correlation_id: str) -> None:
        if correlation_id == self.correlation_id:
            self.plans.append(correlation_id)

    def take(self) -> list[tuple[str, list[str]]]:
        taken, self.batches = self.batches, []
        return taken


CREATED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _left_stalled_for_nobody(db: Any) -> Iterator[None]:
    """Campaigns these tests leave running end here: a later watchdog of the session (the
    fault suite's) would otherwise take them up."""
    yield
    for correlation_id in CREATED:
        operations.fail(db, correlation_id, "test over")


def _campaign(db: Any, count: int = PASSES) -> tuple[str, list[str]]:
    tag = secrets.token_hex(6)
    pass_ids = insert_segment(db, tag, count)
    correlation_id = f"op-{secrets.token_hex(8)}"
    CREATED.append(correlation_id)
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id="demo",
            kind=PUSH_UPDATE,
            total=0,
            intent={
                "segment": to_intent(Segment(PassFilter(metadata={"campaign": (tag,)}))),
                "patch": {"additionalData": {"points": NEW_POINTS}},
            },
        ),
    )
    return correlation_id, pass_ids


def _plan(context: JobContext, correlation_id: str, broker: Broker) -> None:
    run_plan(context, correlation_id, broker.enqueue, size=SIZE, window=WINDOW)


def _run(context: JobContext, correlation_id: str, broker: Broker, batch: tuple[str, list[str]]):
    """What the batch task does: walk on by one batch, then run this one."""
    advance(context, correlation_id, broker.enqueue, size=SIZE)
    return run_batch(context, correlation_id, batch[0], batch[1])


def _drain(context: JobContext, correlation_id: str, broker: Broker) -> None:
    while broker.batches:
        for batch in broker.take():
            _run(context, correlation_id, broker, batch)


def _watchdog(context: JobContext, broker: Broker, after: timedelta) -> list[Recovery]:
    return recover_stalled(
        context,
        stall=STALL,
        send_plan=broker.send_plan,
        send_batch=broker.send_batch,
        now=utcnow() + after,
        window=WINDOW,
        size=SIZE,
    )


def _leases_run_out(db: Any, correlation_id: str) -> None:
    """The time the watchdog's clock skips: a dead job's leases have ended."""
    past = utcnow() - STALL
    for batch in repo.batches(db, correlation_id):
        db.campaign_batches.update_one({"_id": batch["_id"]}, {"$set": {"leasedUntil": past}})


def _mine(recoveries: list[Recovery], correlation_id: str) -> Recovery:
    [recovery] = [r for r in recoveries if r.correlation_id == correlation_id]
    return recovery


def _operation(db: Any, correlation_id: str) -> dict[str, Any]:
    found: dict[str, Any] = db.operations.find_one({"_id": correlation_id})
    return found


def test_lost_batches_are_resent_once_stalled_and_the_campaign_completes_exactly(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, pass_ids = _campaign(db)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    first, lost = broker.take()  # the window: batch 0 runs, batch 1's message is lost
    _run(job_context, correlation_id, broker, first)
    broker.take()  # ...and so is the batch 0 enqueued as it started

    # Not stalled yet: nothing to do.
    assert [
        r
        for r in _watchdog(job_context, broker, timedelta(0))
        if r.correlation_id == correlation_id
    ] == []
    recovery = _mine(_watchdog(job_context, broker, STALL * 2), correlation_id)
    assert recovery.resent == ["batch:0000001", "batch:0000002"]
    assert not recovery.walked_on  # a window of batches is out again
    assert [batch for batch, _ in broker.batches] == recovery.resent
    assert broker.batches[0] == lost  # the same pass ids as the lost message
    # Taken once per stall: an immediate second run does nothing for this campaign.
    assert correlation_id not in {
        r.correlation_id for r in _watchdog(job_context, broker, STALL * 2)
    }

    _drain(job_context, correlation_id, broker)
    operation = _operation(db, correlation_id)
    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert counters["total"] == counters["processed"] == counters["succeeded"] == PASSES
    assert (counters["failed"], counters["cancelled"]) == (0, 0)
    assert "notReached" not in counters
    stored = list(db.passes.find({"_id": {"$in": pass_ids}}, {"version": 1, "additionalData": 1}))
    assert {d["additionalData"]["points"] for d in stored} == {NEW_POINTS}
    assert {d["version"] for d in stored} == {2}  # written once
    assert repo.batches(db, correlation_id) == []  # forgotten once it ended


def test_a_running_batch_holds_its_lease_and_is_not_resent(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, _ = _campaign(db)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    broker.take()
    now = utcnow()
    until = now + STALL * 10
    repo.lease_batch(
        db, correlation_id, "batch:0000000", owner="job-1", until=until, now=now - STALL * 2
    )
    recovery = _mine(_watchdog(job_context, broker, STALL * 2), correlation_id)
    assert recovery.resent == ["batch:0000001"]


def test_a_second_copy_of_a_running_batch_does_nothing_until_its_lease_ends(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, pass_ids = _campaign(db, count=SIZE)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    [(batch_id, ids)] = broker.take()
    now = utcnow()
    repo.lease_batch(db, correlation_id, batch_id, owner="job-1", until=now + STALL, now=now)

    run_batch(job_context, correlation_id, batch_id, ids, owner="job-2")  # a duplicate
    assert _operation(db, correlation_id)["counters"]["processed"] == 0
    assert {d["version"] for d in db.passes.find({"_id": {"$in": pass_ids}})} == {1}
    # The same message delivered again (same task id) takes it over.
    run_batch(job_context, correlation_id, batch_id, ids, owner="job-1")
    assert _operation(db, correlation_id)["status"] == "completed"


def test_a_copy_runs_once_the_holders_lease_ran_out(job_context: JobContext, db: Any) -> None:
    correlation_id, _ = _campaign(db, count=SIZE)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    [(batch_id, ids)] = broker.take()
    past = utcnow() - STALL
    repo.lease_batch(db, correlation_id, batch_id, owner="dead-job", until=past, now=past)
    run_batch(job_context, correlation_id, batch_id, ids, owner="job-2")
    assert _operation(db, correlation_id)["status"] == "completed"


def test_when_the_walks_next_batch_is_lost_the_watchdog_walks_on(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, _ = _campaign(db)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    for batch in broker.take():
        run_batch(job_context, correlation_id, *batch)  # ran, but never walked on
    recovery = _mine(_watchdog(job_context, broker, STALL * 2), correlation_id)
    assert recovery.resent == [] and recovery.walked_on
    assert [batch for batch, _ in broker.batches] == ["batch:0000002", "batch:0000003"]
    _drain(job_context, correlation_id, broker)
    assert _operation(db, correlation_id)["status"] == "completed"


def test_a_campaign_never_planned_gets_its_planning_job_again(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, _ = _campaign(db)
    broker = Broker(correlation_id)
    recovery = _mine(_watchdog(job_context, broker, STALL * 2), correlation_id)
    assert recovery.replanned and broker.plans == [correlation_id]


def test_a_stalled_cancellation_completes_without_a_message(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, _ = _campaign(db)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    first, _lost = broker.take()
    _run(job_context, correlation_id, broker, first)
    broker.take()
    assert operations.request_cancel(db, "demo", correlation_id)["status"] == "cancelling"

    recovery = _mine(_watchdog(job_context, broker, STALL * 2), correlation_id)
    assert recovery.cancelled == ["batch:0000001", "batch:0000002"] and recovery.walked_on
    assert broker.batches == []  # nothing sent: done from MongoDB alone
    operation = _operation(db, correlation_id)
    assert operation["status"] == "cancelled", operation
    counters = operation["counters"]
    assert (counters["total"], counters["processed"]) == (PASSES, PASSES)
    assert (counters["succeeded"], counters["cancelled"]) == (SIZE, PASSES - SIZE)
    assert counters["notReached"] == PASSES - SIZE


def test_a_stalled_cancellation_before_planning_cancels_the_whole_segment(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, _ = _campaign(db)
    operations.start(db, correlation_id)  # the planning job began, then was lost
    operations.request_cancel(db, "demo", correlation_id)
    broker = Broker(correlation_id)
    assert _mine(_watchdog(job_context, broker, STALL * 2), correlation_id).replanned
    counters = _operation(db, correlation_id)["counters"]
    assert _operation(db, correlation_id)["status"] == "cancelled"
    assert counters["total"] == counters["cancelled"] == counters["notReached"] == PASSES


def test_a_failed_campaign_counts_what_no_batch_reached_and_nothing_cancelled(
    job_context: JobContext, db: Any
) -> None:
    correlation_id, _ = _campaign(db)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    first, late = broker.take()
    _run(job_context, correlation_id, broker, first)
    operations.fail(db, correlation_id, "internal error (KeyError)")

    # A late batch and the walk, after the failure: they move no counter.
    run_batch(job_context, correlation_id, *late)
    advance(job_context, correlation_id, broker.enqueue, size=SIZE)
    operation = _operation(db, correlation_id)
    assert operation["status"] == "failed"
    counters = operation["counters"]
    assert (counters["succeeded"], counters["processed"], counters["cancelled"]) == (SIZE, SIZE, 0)
    assert counters["notReached"] == PASSES - SIZE
    assert counters["succeeded"] + counters["notReached"] == counters["total"] == PASSES


def test_passes_written_but_not_pushed_are_pushed_by_their_campaigns_recovery(
    job_context: JobContext, db: Any, fake_apns: FakeApnsControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    correlation_id, pass_ids = _campaign(db, count=SIZE)
    tokens = register_devices(db, pass_ids)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    [batch] = broker.take()

    def die(*args: Any) -> None:
        raise SystemExit("worker killed between the write and the push")

    with monkeypatch.context() as patch:
        patch.setattr(batches, "_push", die)
        with pytest.raises(SystemExit):
            run_batch(job_context, correlation_id, *batch)
    written = list(db.passes.find({"_id": {"$in": pass_ids}}))
    assert all(d["version"] == 2 and d.get("applePushPending") for d in written)
    assert fake_apns.pushes() == []
    _leases_run_out(db, correlation_id)

    recovery = _mine(_watchdog(job_context, broker, STALL * 2), correlation_id)
    assert recovery.resent == [batch[0]]
    _drain(job_context, correlation_id, broker)
    operation = _operation(db, correlation_id)
    assert operation["status"] == "completed"
    assert operation["counters"]["succeeded"] == SIZE
    assert operation["counters"]["apple"]["pushed"] == SIZE
    assert sorted(push["token"] for push in fake_apns.pushes()) == sorted(tokens)
    assert not any("applePushPending" in d for d in db.passes.find({"_id": {"$in": pass_ids}}))


def test_a_dead_redis_at_lock_release_does_not_replace_the_walks_outcome(
    job_context: JobContext, db: Any
) -> None:
    class DyingLock:
        def acquire(self) -> bool:
            return True

        def release(self) -> None:
            raise RedisConnectionError("Connection refused")

    class Client:
        def lock(self, *args: Any, **kwargs: Any) -> DyingLock:
            return DyingLock()

    correlation_id, _ = _campaign(db, count=SIZE)
    broker = Broker(correlation_id)
    dying = replace(job_context, redis_client=Client())  # type: ignore[arg-type]
    _plan(dying, correlation_id, broker)  # raised ConnectionError before the fix
    assert [batch for batch, _ in broker.take()] == ["batch:0000000"]
    assert _operation(db, correlation_id)["plan"]["done"]


def test_a_cancelled_campaigns_recovery_pushes_what_was_written_and_cancels_the_rest(
    job_context: JobContext, db: Any, fake_apns: FakeApnsControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    correlation_id, pass_ids = _campaign(db, count=SIZE * 2)
    tokens = dict(zip(pass_ids, register_devices(db, pass_ids), strict=True))
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    written, _lost = broker.take()
    with monkeypatch.context() as patch:
        patch.setattr(batches, "_push", lambda *args: (_ for _ in ()).throw(SystemExit()))
        with pytest.raises(SystemExit):
            run_batch(job_context, correlation_id, *written)  # wrote its passes, then died
    operations.request_cancel(db, "demo", correlation_id)
    _leases_run_out(db, correlation_id)

    recovery = _mine(_watchdog(job_context, broker, STALL * 2), correlation_id)
    assert recovery.cancelled == ["batch:0000000", "batch:0000001"]
    operation = _operation(db, correlation_id)
    assert operation["status"] == "cancelled"
    counters = operation["counters"]
    assert (counters["succeeded"], counters["cancelled"], counters["notReached"]) == (2, 2, 2)
    assert counters["apple"]["pushed"] == SIZE
    assert sorted(p["token"] for p in fake_apns.pushes()) == sorted(tokens[i] for i in written[1])
    stored = {d["_id"]: d for d in db.passes.find({"_id": {"$in": pass_ids}})}
    # The rest were never written.
    assert {i: stored[i]["version"] for i in pass_ids} == {
        i: 2 if i in written[1] else 1 for i in pass_ids
    }


def test_a_campaign_the_watchdog_cannot_recover_does_not_stop_it_for_the_others(
    job_context: JobContext, db: Any
) -> None:
    broken, _ = _campaign(db)
    _plan(job_context, broken, Broker(broken))
    operations.request_cancel(db, "demo", broken)
    db.operations.update_one({"_id": broken}, {"$unset": {"intent": ""}})  # a corrupt document
    correlation_id, _ = _campaign(db)
    broker = Broker(correlation_id)
    _plan(job_context, correlation_id, broker)
    broker.take()

    try:
        recoveries = _watchdog(job_context, broker, STALL * 2)
    finally:
        operations.fail(db, broken, "corrupt")  # no later watchdog run trips over it
    assert broken not in {r.correlation_id for r in recoveries}
    assert _mine(recoveries, correlation_id).resent == ["batch:0000000", "batch:0000001"]
