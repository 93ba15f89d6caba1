"""Planning a campaign: count the segment (the operation's total), then walk its pass ids in
`_id` order and enqueue one batch of explicit ids per BATCH_SIZE.

The count is a snapshot: the walk stops at that many ids, and when fewer are found (passes
left the segment meanwhile) the total is lowered to what was walked, so processed == total
always ends the operation. Cancelled while planning: no further batch is enqueued and the
ids not enqueued are counted `cancelled` in one record of their own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shared import operations
from shared.campaigns.segments import from_intent, segment_query
from shared.clock import utcnow
from shared.passes.jobs import JobContext
from shared.repositories import campaigns as repo

log = logging.getLogger(__name__)

BATCH_SIZE_ENV = "PASSWIRE_CAMPAIGN_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 5000
REMAINDER_BATCH = "plan:not-enqueued"

EnqueueBatch = Callable[[str, list[str]], None]  # (batch id, pass ids)


def batch_size() -> int:
    raw = os.environ.get(BATCH_SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_BATCH_SIZE
    size = int(raw)  # a typo should stop the worker loudly, not fall back silently
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ValueError(f"{BATCH_SIZE_ENV} must be between 1 and {MAX_BATCH_SIZE}, got {size}")
    return size


def batch_id(index: int) -> str:
    # Deterministic: a planning job delivered twice re-enqueues the same batch ids, and each
    # batch is counted once whichever copy records first.
    return f"batch:{index:07d}"


def _chunks(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for pass_id in ids:
        chunk.append(pass_id)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_plan(
    context: JobContext,
    correlation_id: str,
    enqueue_batch: EnqueueBatch,
    *,
    size: int | None = None,
) -> dict[str, Any] | None:
    """Plan the campaign of `correlation_id`. Safe to run more than once."""
    db = context.db
    operation, active = context.begin(correlation_id, "campaign planning")
    if operation is None or not active:
        return operation
    query = segment_query(operation["tenant"], from_intent(operation["intent"]["segment"]))
    planned = repo.mark_planned(
        db,
        correlation_id,
        total=repo.count_segment(db, query),
        active=operations.ACTIVE_STATUSES,
        now=utcnow(),
    )
    if planned is None or planned["status"] in operations.FINAL_STATUSES:
        return planned
    total = int(planned["counters"]["total"])
    size = size or batch_size()
    enqueued = 0
    ids = repo.segment_ids(db, query, limit=total, batch_size=size)
    for index, chunk in enumerate(_chunks(ids, size)):
        if repo.operation_status(db, correlation_id) != operations.RUNNING:
            return context.finished(_cancel_remainder(context, correlation_id, total - enqueued))
        enqueue_batch(batch_id(index), chunk)
        enqueued += len(chunk)
    log.info("campaign planned: %d passes in batches of %d", enqueued, size)
    settled = repo.settle_total(
        db, correlation_id, walked=enqueued, active=operations.ACTIVE_STATUSES, now=utcnow()
    )
    # Closes an empty segment (or one whose batches all recorded before the total settled).
    return context.finished(operations.finish_if_done(db, settled)) if settled else None


def _cancel_remainder(
    context: JobContext, correlation_id: str, remaining: int
) -> dict[str, Any] | None:
    log.info("campaign cancelled while planning: %d passes not enqueued", remaining)
    return operations.record_results(
        context.db, correlation_id, REMAINDER_BATCH, cancelled=remaining
    )
