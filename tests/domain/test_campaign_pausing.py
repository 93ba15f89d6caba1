"""A paused campaign's batches, called directly: a batch that starts while paused parks all its
passes for the resume, which sends them; a resume landing between a batch seeing `paused` and
writing its record still gets the parked passes sent, exactly once; and the crash-recovery
watchdog never takes a paused campaign for a stalled one."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from shared import operations
from shared.campaigns import PUSH_UPDATE, batches
from shared.campaigns.pausing import request_resume
from shared.campaigns.recovery import recover_stalled
from shared.campaigns.segments import Segment, to_intent
from shared.infra.clock import utcnow
from shared.passes.jobs import JobContext
from shared.passes.search import PassFilter
from shared.repositories import campaigns as campaigns_repo
from tests.e2e.test_push_updates import insert_segment


def _campaign(db: Any, pass_ids: list[str], status: str) -> str:
    correlation_id = f"pause-{secrets.token_hex(6)}"
    segment = Segment(filters=PassFilter(), ids=tuple(pass_ids))
    document = operations.new_operation(
        correlation_id=correlation_id,
        tenant_id="demo",
        kind=PUSH_UPDATE,
        total=len(pass_ids),
        intent={"segment": to_intent(segment), "patch": {"additionalData": {"p": 1}}},
    )
    document.update(status=status, startedAt=utcnow())
    operations.create(db, document)
    return correlation_id


def test_a_batch_started_while_paused_parks_everything_and_the_resume_sends_it(
    job_context: JobContext, db: Any
) -> None:
    pass_ids = insert_segment(db, secrets.token_hex(6), 20)
    correlation_id = _campaign(db, pass_ids, operations.PAUSED)
    sent: list[tuple[str, list[str]]] = []
    batches.run_batch(job_context, correlation_id, "batch:0000000", pass_ids)
    stored = db.operations.find_one({"_id": correlation_id})
    assert stored["counters"]["processed"] == 0
    assert stored["parked"] == {"batch:0000000+0": pass_ids}
    assert {d["version"] for d in db.passes.find({"_id": {"$in": pass_ids}})} == {1}

    resumed = request_resume(
        db,
        "demo",
        correlation_id,
        send_plan=lambda tenant, cid: None,
        send_batch=lambda tenant, cid, batch, ids: sent.append((batch, ids)),
    )
    assert resumed["status"] == operations.RUNNING and "parked" not in resumed
    assert sent == [("batch:0000000+0", pass_ids)]
    batches.run_batch(job_context, correlation_id, *sent[0])
    done = db.operations.find_one({"_id": correlation_id})
    assert done["status"] == operations.COMPLETED
    assert done["counters"]["succeeded"] == done["counters"]["processed"] == 20


def test_a_resume_between_seeing_paused_and_recording_still_sends_the_rest_once(
    job_context: JobContext, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pass_ids = insert_segment(db, secrets.token_hex(6), 80)
    correlation_id = _campaign(db, pass_ids, operations.RUNNING)

    # The batch's watch reads `paused` (its 51st pass), but by the time it writes its record
    # a resume has come and gone, finding nothing parked.
    class SeesPaused(batches.CancelWatch):
        def __init__(self, read_status: Any, **options: Any) -> None:
            super().__init__(lambda: operations.PAUSED, **options)

    monkeypatch.setattr(batches, "CancelWatch", SeesPaused)
    sent: list[tuple[str, list[str]]] = []
    batches.run_batch(
        job_context,
        correlation_id,
        "batch:0000000",
        pass_ids,
        lambda batch, ids: sent.append((batch, ids)),
    )
    stored = db.operations.find_one({"_id": correlation_id})
    assert stored["status"] == operations.RUNNING
    assert stored["counters"]["processed"] == stored["counters"]["succeeded"] == 50
    assert sent == [("batch:0000000+50", pass_ids[50:])]
    assert not stored.get("parked")  # taken by this job: a later resume sends nothing


def test_the_watchdog_leaves_a_paused_campaign_alone(job_context: JobContext, db: Any) -> None:
    pass_ids = insert_segment(db, secrets.token_hex(6), 10)
    correlation_id = _campaign(db, pass_ids, operations.PAUSED)
    long_ago = utcnow() - timedelta(hours=1)
    plan = {"cursor": pass_ids[-1], "next": 1, "walked": 10, "done": True}
    db.operations.update_one(
        {"_id": correlation_id}, {"$set": {"updatedAt": long_ago, "plan": plan}}
    )
    # A batch the walk sent and no job recorded: were the campaign running, a stalled one.
    campaigns_repo.save_batch(db, correlation_id, "batch:0000000", pass_ids, now=long_ago)
    sent: list[Any] = []
    recovered = recover_stalled(
        job_context,
        stall=timedelta(seconds=60),
        send_plan=lambda *args: sent.append(args),
        send_batch=lambda *args: sent.append(args),
    )
    assert correlation_id not in [r.correlation_id for r in recovered]
    assert sent == []
    assert db.operations.find_one({"_id": correlation_id})["status"] == operations.PAUSED
