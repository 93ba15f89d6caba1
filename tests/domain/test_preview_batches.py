"""A large preview's batches (an operation of kind `preview`, walked by the campaign's own
planning) under at-least-once delivery, on the real domain functions and the MongoDB wire
server: a batch delivered twice (one copy after the other, or both at once: a preview batch
takes no lease) counts its passes once and adds its samples once, and the preview still
writes no pass."""

from __future__ import annotations

import secrets
from typing import Any

from shared import operations
from shared.campaigns import PREVIEW
from shared.campaigns.batches import run_batch
from shared.campaigns.planning import advance, run_plan
from shared.campaigns.preview import MAX_SAMPLES, report_of, run_preview_batch
from shared.campaigns.segments import Segment, to_intent
from shared.passes.jobs import JobContext
from shared.passes.search import PassFilter
from tests.e2e.test_push_updates import insert_segment, register_devices

PASSES, SIZE, WINDOW = 8, 3, 2


def _preview_operation(db: Any, tag: str) -> str:
    correlation_id = f"op-{secrets.token_hex(8)}"
    segment = Segment(PassFilter(metadata={"campaign": (tag,)}))
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id="demo",
            kind=PREVIEW,
            total=PASSES,
            intent={"segment": to_intent(segment), "patch": {"additionalData": {"points": 7}}},
        ),
    )
    return correlation_id


def test_a_preview_batch_delivered_twice_counts_once(db: Any, job_context: JobContext) -> None:
    tag = secrets.token_hex(6)
    pass_ids = insert_segment(db, tag, PASSES)
    register_devices(db, pass_ids)
    versions = {d["_id"]: d["version"] for d in db.passes.find({"_id": {"$in": pass_ids}})}
    correlation_id = _preview_operation(db, tag)
    sent: list[tuple[str, list[str]]] = []

    def enqueue(batch_id: str, ids: list[str]) -> None:
        sent.append((batch_id, ids))

    run_plan(job_context, correlation_id, enqueue, size=SIZE, window=WINDOW)
    delivered = 0
    while delivered < len(sent):
        batch_id, ids = sent[delivered]
        delivered += 1
        advance(job_context, correlation_id, enqueue, size=SIZE)
        # Each message delivered twice (a redelivery after a lost ack): two copies, one after
        # the other, each with its own task id.
        run_batch(job_context, correlation_id, batch_id, ids, owner=f"first-{batch_id}")
        run_batch(job_context, correlation_id, batch_id, ids, owner=f"again-{batch_id}")

    assert len(sent) == 3  # 3 + 3 + 2 passes
    operation = db.operations.find_one({"_id": correlation_id})
    assert operation["status"] == operations.COMPLETED
    counters = operation["counters"]
    assert (counters["processed"], counters["succeeded"], counters["unchanged"]) == (8, 8, 0)
    report = report_of(operation)
    assert report["wouldChange"] == PASSES
    assert report["apple"]["devicesToPush"] == PASSES  # one device each, counted once
    sampled = [sample["passId"] for sample in report["samples"]]
    assert len(sampled) == MAX_SAMPLES
    assert len(set(sampled)) == MAX_SAMPLES  # no sample added twice
    assert set(sampled) <= set(pass_ids)
    after = {d["_id"]: d["version"] for d in db.passes.find({"_id": {"$in": pass_ids}})}
    assert after == versions  # a preview writes no pass


def test_preview_batch_copies_running_at_once_count_once(db: Any, job_context: JobContext) -> None:
    """A preview batch takes no lease: two copies of one message may run at once. The copy
    that read the operation before the other recorded (so it also samples) counts nothing
    and adds no sample a second time; the operation ends with every figure counted once and
    no batch of its walk left behind."""
    tag = secrets.token_hex(6)
    pass_ids = insert_segment(db, tag, PASSES)
    register_devices(db, pass_ids)
    correlation_id = _preview_operation(db, tag)
    sent: list[tuple[str, list[str]]] = []

    def enqueue(batch_id: str, ids: list[str]) -> None:
        sent.append((batch_id, ids))

    run_plan(job_context, correlation_id, enqueue, size=PASSES, window=1)
    assert len(sent) == 1
    batch_id, ids = sent[0]
    # Both copies started before either recorded: they read the operation as it was then.
    as_read = db.operations.find_one({"_id": correlation_id}, {"recordedBatches": 0})
    saved = {"_id": {"$regex": f"^{correlation_id}/"}}
    assert db.campaign_batches.count_documents(saved) == 1  # the walk saved the batch
    run_preview_batch(job_context, as_read, batch_id, ids)
    run_preview_batch(job_context, as_read, batch_id, ids)

    operation = db.operations.find_one({"_id": correlation_id})
    assert operation["status"] == operations.COMPLETED
    counters = operation["counters"]
    assert (counters["processed"], counters["succeeded"], counters["failed"]) == (8, 8, 0)
    report = report_of(operation)
    assert report["apple"]["devicesToPush"] == PASSES
    sampled = [sample["passId"] for sample in report["samples"]]
    assert len(sampled) == len(set(sampled)) == MAX_SAMPLES
    assert sampled == ids[:MAX_SAMPLES]  # the first changed passes of the batch, in order
    assert db.campaign_batches.count_documents(saved) == 0  # ended: forgotten


def test_a_preview_cancelled_mid_walk_stops_and_ends_cancelled(
    db: Any, job_context: JobContext
) -> None:
    """Cancelling a large preview while its batches run: the batch already sent still counts
    its passes, the walk enqueues nothing more and counts the rest `cancelled`, and the
    operation ends `cancelled` with every pass accounted for once."""
    tag = secrets.token_hex(6)
    insert_segment(db, tag, PASSES)
    correlation_id = _preview_operation(db, tag)
    sent: list[tuple[str, list[str]]] = []

    def enqueue(batch_id: str, ids: list[str]) -> None:
        sent.append((batch_id, ids))

    run_plan(job_context, correlation_id, enqueue, size=SIZE, window=1)
    assert len(sent) == 1
    operations.request_cancel(db, "demo", correlation_id)
    batch_id, ids = sent[0]
    advance(job_context, correlation_id, enqueue, size=SIZE)  # the batch task advances first
    run_batch(job_context, correlation_id, batch_id, ids, owner="first")

    assert len(sent) == 1  # nothing enqueued after the cancel
    operation = db.operations.find_one({"_id": correlation_id})
    assert operation["status"] == operations.CANCELLED
    counters = operation["counters"]
    assert (counters["succeeded"], counters["cancelled"]) == (SIZE, PASSES - SIZE)
    assert counters["processed"] == counters["total"] == PASSES
