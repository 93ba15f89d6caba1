"""Planning a campaign: count the segment (the operation's total), then walk its pass ids in
`_id` order, enqueueing one batch of explicit ids per BATCH_SIZE — a few at a time.

The walk is a window: planning enqueues WINDOW batches, and every batch, when it starts,
enqueues the next one. A campaign therefore never has more than about WINDOW batches waiting
in the `bulk` queue, so another tenant's campaign started later waits behind those few, not
behind the whole of a 100k-pass campaign (the queue is first in, first out). Where the walk
stands (`plan`: the last id enqueued, the next batch index, how many ids were walked) lives in
the operation and moves with a compare-and-set, so of two batches advancing at once one does.

The count is a snapshot (a preview's is the one its request took to tell a small segment from a
large one): the walk stops at that many ids, and when fewer are found (passes
left the segment meanwhile) the total is lowered to what was walked, so processed == total
always ends the operation. Cancelled: no further batch is enqueued and the ids not enqueued
are counted `cancelled` in one record of their own. Failed: the walk just ends (the operation
counts what no batch reached as `notReached`).

Before the first batch, the campaign's Google message is decided: one class addMessage for a
message to every pass of a pass type, sent here once, or one per object in the batches
(shared/campaigns/class_messages.py).

Each batch is saved (its pass ids) before its message is sent: what the watchdog
(shared/campaigns/recovery.py) re-sends when a message is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import LockError, RedisError

from config.settings import Settings
from shared import operations
from shared.campaigns import PREVIEW, class_messages, pacing
from shared.campaigns.segments import from_intent, segment_query
from shared.infra.clock import utcnow
from shared.passes.jobs import JobContext
from shared.repositories import campaigns as repo

log = logging.getLogger(__name__)

# Batch size and window are settings (PASSWIRE_CAMPAIGN_BATCH_SIZE, PASSWIRE_CAMPAIGN_WINDOW).
DEFAULT_BATCH_SIZE = Settings.campaign_batch_size
REMAINDER_BATCH = "plan:not-enqueued"
_LOCK_PREFIX = "passwire:campaign:plan:"
_LOCK_TIMEOUT_S = 10  # a crashed holder's lock expires after this (holding takes ms)
_LOCK_WAIT_S = 15  # longer than the timeout: waiters outlive a dead holder's lock

EnqueueBatch = Callable[[str, list[str]], None]  # (batch id, pass ids)


def batch_id(index: int) -> str:
    # Deterministic: a planning job delivered twice re-enqueues the same batch ids, and each
    # batch is counted once whichever copy records first.
    return f"batch:{index:07d}"


def run_plan(
    context: JobContext,
    correlation_id: str,
    enqueue_batch: EnqueueBatch,
    *,
    size: int | None = None,
    window: int | None = None,
    owner: str | None = None,
) -> dict[str, Any] | None:
    """Plan the campaign of `correlation_id` and enqueue its first batches. Safe to run more
    than once. `owner`: the planning job's id (the same when its message is delivered again),
    which takes over a class message it was sending when its worker died."""
    db = context.db
    operation, active = context.begin(correlation_id, "campaign planning")
    if operation is None or not active:
        if operation is not None:  # ended while this job's message was held: a late send
            class_messages.resume(context, correlation_id)
        return operation
    if operation["kind"] == PREVIEW:
        # Counted by the request that created it, just now (a count reads every pass of the
        # segment once): the same snapshot, settled as the walk ends like any other.
        total = int(operation["counters"]["total"])
    else:
        query = segment_query(operation["tenant"], from_intent(operation["intent"]["segment"]))
        total = repo.count_segment(db, query)
    planned = repo.mark_planned(
        db, correlation_id, total=total, active=operations.ACTIVE_STATUSES, now=utcnow()
    )
    if planned is None or planned["status"] in operations.FINAL_STATUSES:
        return planned
    # Before any batch exists: the batches read how the message reaches Google.
    class_messages.plan(context, planned, owner=owner)
    return advance(
        context,
        correlation_id,
        enqueue_batch,
        size=size,
        steps=window or context.settings.campaign_window,
    )


def advance(
    context: JobContext,
    correlation_id: str,
    enqueue_batch: EnqueueBatch,
    *,
    size: int | None = None,
    steps: int = 1,
) -> dict[str, Any] | None:
    """Enqueue up to `steps` more batches where the walk stands; at its end, settle the total
    (and close an operation whose batches all recorded). Returns the operation when this call
    changed its state, else None.

    One advancer at a time per campaign (a Redis lock): two batches starting together would
    otherwise both enqueue the same next batch, and its passes would be processed twice. The
    wait is short (advancing takes milliseconds); each batch must advance once, or the window
    would shrink."""
    # Outside the lock (a Google call may take seconds): a class message whose job died.
    class_messages.resume(context, correlation_id)
    lock = context.redis.lock(
        f"{_LOCK_PREFIX}{correlation_id}",
        timeout=_LOCK_TIMEOUT_S,
        blocking=True,
        blocking_timeout=_LOCK_WAIT_S,
    )
    if not lock.acquire():
        log.warning("campaign %s: planning lock busy; walk not advanced", correlation_id)
        return None
    size = size or context.settings.campaign_batch_size
    try:
        return _advance(context, correlation_id, enqueue_batch, size=size, steps=steps)
    finally:
        try:
            lock.release()
        except LockError:  # expired meanwhile: another advancer may hold it now
            log.warning("campaign %s: planning lock expired while held", correlation_id)
        except RedisError as exc:
            # Redis went away meanwhile: the lock expires by itself, and the job's own
            # outcome (its result, or the error it raised) is what must reach the caller.
            log.warning("campaign %s: planning lock not released (%s)", correlation_id, exc)


def _advance(
    context: JobContext,
    correlation_id: str,
    enqueue_batch: EnqueueBatch,
    *,
    size: int,
    steps: int,
) -> dict[str, Any] | None:
    db = context.db
    for _ in range(steps):
        operation = repo.load_campaign(db, correlation_id)
        plan = (operation or {}).get("plan")
        if operation is None or plan is None or plan["done"]:
            return None
        total = int(operation["counters"]["total"])
        if operation["status"] == operations.PAUSED:
            return None  # the walk stays where it stands: resuming goes on from there
        if operation["status"] != operations.RUNNING:
            return _stop_walk(context, correlation_id, plan, total, operation["status"])
        query = segment_query(operation["tenant"], from_intent(operation["intent"]["segment"]))
        remaining = total - plan["walked"]
        step = pacing.batch_size(operation, size)  # smaller for a paced campaign
        ids = list(
            repo.segment_ids(
                db, query, limit=min(step, remaining), batch_size=step, after=plan["cursor"]
            )
        )
        if ids:
            # Saved and enqueued before the walk moves: a crash in between enqueues it again
            # (the batch id makes it count once), never loses it.
            repo.save_batch(db, correlation_id, batch_id(plan["next"]), ids, now=utcnow())
            enqueue_batch(batch_id(plan["next"]), ids)
        walked = plan["walked"] + len(ids)
        done = len(ids) < step or walked >= total
        moved = {
            "cursor": ids[-1] if ids else plan["cursor"],
            "next": plan["next"] + 1,
            "walked": walked,
            "done": done,
        }
        if not repo.advance_plan(db, correlation_id, seen_next=plan["next"], plan=moved):
            return None  # another batch moved the walk on first
        if done:
            log.info("campaign planned: %d passes in %d batches", walked, moved["next"])
            settled = repo.settle_total(
                db, correlation_id, walked=walked, active=operations.ACTIVE_STATUSES, now=utcnow()
            )
            # Closes an empty segment (or one whose batches all recorded before it settled).
            return _ended(context, operations.finish_if_done(db, settled)) if settled else None
    return None


def _stop_walk(
    context: JobContext, correlation_id: str, plan: dict[str, Any], total: int, status: str
) -> dict[str, Any] | None:
    """Not running any more: end the walk. Cancelled, what was never enqueued is counted
    `cancelled` once; ended otherwise (failed), a cancellation stopped nothing."""
    stopped = {**plan, "next": plan["next"] + 1, "done": True}
    if not repo.advance_plan(context.db, correlation_id, seen_next=plan["next"], plan=stopped):
        return None
    if status != operations.CANCELLING:
        return None
    return _ended(context, _cancel_remainder(context, correlation_id, total - int(plan["walked"])))


def _ended(context: JobContext, operation: dict[str, Any] | None) -> dict[str, Any] | None:
    """Announce the operation if it ended, and forget its batches then (nothing to recover)."""
    if operation is not None and operation["status"] in operations.FINAL_STATUSES:
        repo.drop_batches(context.db, operation["_id"])
    return context.finished(operation)


def _cancel_remainder(
    context: JobContext, correlation_id: str, remaining: int
) -> dict[str, Any] | None:
    log.info("campaign cancelled while planning: %d passes not enqueued", remaining)
    return operations.record_results(
        context.db, correlation_id, REMAINDER_BATCH, cancelled=remaining, only_active=True
    )
