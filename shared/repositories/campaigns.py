"""Campaign reads and writes: walking a segment's pass ids, loading and writing a batch of
passes in bulk, and the planning marks on a campaign's operation.

Segments are walked in `_id` order with a projection of `_id` only and a batch-sized cursor,
so a segment of millions never sits in memory; the `(tenant, _id)` index serves the order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database

from shared.repositories import operations, passes

Document = dict[str, Any]


@dataclass(frozen=True)
class PassWrite:
    pass_id: str
    expected_version: int
    changes: Document


def count_segment(db: Database[Any], query: Mapping[str, Any]) -> int:
    return int(db[passes.COLLECTION].count_documents(dict(query)))


def segment_ids(
    db: Database[Any],
    query: Mapping[str, Any],
    *,
    limit: int,
    batch_size: int,
    after: str | None = None,
) -> Iterator[str]:
    """At most `limit` matching pass ids in `_id` order (those above `after`, if given),
    fetched `batch_size` at a time."""
    if limit <= 0:
        return
    where = dict(query) if after is None else {"$and": [dict(query), {"_id": {"$gt": after}}]}
    cursor = db[passes.COLLECTION].find(
        where, {"_id": 1}, sort=[("_id", 1)], limit=limit, batch_size=batch_size
    )
    with cursor:
        for document in cursor:
            yield str(document["_id"])


def load_passes(
    db: Database[Any],
    tenant_id: str,
    pass_ids: Sequence[str],
    *,
    without: Sequence[str] = (),  # fields left out (a preview needs no signed parts)
) -> dict[str, Document]:
    ids = list(pass_ids)
    projection = dict.fromkeys(without, 0) or None
    found = db[passes.COLLECTION].find(
        {"_id": {"$in": ids}, "tenant": tenant_id},
        projection,
        batch_size=max(len(ids), 1),  # one reply, no getMore round trip (size caps it anyway)
    )
    return {str(document["_id"]): document for document in found}


def write_passes(
    db: Database[Any], tenant_id: str, writes: Sequence[PassWrite], *, now: datetime
) -> set[str]:
    """Apply each write unless its pass changed since it was read (version guard), in one
    `bulk_write`; returns the ids written. `changes` must set `updatedAt` to `now`: that and
    the new version tell our writes from a concurrent writer's when some were refused."""
    if not writes:
        return set()
    requests = [
        UpdateOne(
            {"_id": w.pass_id, "tenant": tenant_id, "version": w.expected_version},
            {"$set": {**w.changes, "version": w.expected_version + 1}},
        )
        for w in writes
    ]
    result = db[passes.COLLECTION].bulk_write(requests, ordered=False)
    ids = [w.pass_id for w in writes]
    if result.modified_count == len(writes):
        return set(ids)
    expected = {w.pass_id: w.expected_version + 1 for w in writes}
    current = db[passes.COLLECTION].find(
        {"_id": {"$in": ids}, "tenant": tenant_id}, {"version": 1, "updatedAt": 1}
    )
    return {
        str(d["_id"])
        for d in current
        if d.get("version") == expected[str(d["_id"])] and d.get("updatedAt") == now
    }


def clear_apple_push_pending(
    db: Database[Any], tenant_id: str, pushed: Iterable[tuple[str, int]]
) -> None:
    """The pushes for these (pass id, Apple update tag) were sent; newer versions keep theirs.

    One `update_many` matching both lists, not one update per pass: update tags come from
    one sequence (shared/passes/apple_versions.py), so a tag is only ever stored on the one
    pass version it was reserved for, and a newer version's tag is in no pushed pair. A pass
    matches exactly when it still holds the version that was pushed."""
    pass_ids: list[str] = []
    tags: list[int] = []
    for pass_id, tag in pushed:
        pass_ids.append(pass_id)
        tags.append(tag)
    if pass_ids:
        db[passes.COLLECTION].update_many(
            {"_id": {"$in": pass_ids}, "tenant": tenant_id, "apple.updateTag": {"$in": tags}},
            {"$unset": {"applePushPending": ""}},
        )


def operation_status(db: Database[Any], correlation_id: str) -> str | None:
    found = db[operations.COLLECTION].find_one({"_id": correlation_id}, {"status": 1})
    return None if found is None else str(found["status"])


def mark_planned(
    db: Database[Any], correlation_id: str, *, total: int, active: Sequence[str], now: datetime
) -> Document | None:
    """Set the segment's size as the operation's total, once (a re-delivered planning job
    keeps the first count); returns the operation as it now is."""
    updated: Document | None = db[operations.COLLECTION].find_one_and_update(
        {"_id": correlation_id, "status": {"$in": list(active)}, "plannedAt": None},
        {
            "$set": {
                "counters.total": total,
                "plannedAt": now,
                "updatedAt": now,
                # Where the walk of the segment stands (shared/campaigns/planning.py).
                "plan": {"cursor": None, "next": 0, "walked": 0, "done": False},
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        updated = db[operations.COLLECTION].find_one({"_id": correlation_id})
    return updated


def advance_plan(
    db: Database[Any], correlation_id: str, *, seen_next: int, plan: Mapping[str, Any]
) -> bool:
    """Move the walk on to `plan` if nobody moved it since it stood at batch `seen_next`."""
    result = db[operations.COLLECTION].update_one(
        {"_id": correlation_id, "plan.next": seen_next, "plan.done": False},
        {"$set": {"plan": dict(plan)}},
    )
    return result.modified_count == 1


def settle_total(
    db: Database[Any], correlation_id: str, *, walked: int, active: Sequence[str], now: datetime
) -> Document | None:
    """Lower the total to the passes actually walked (some left the segment after it was
    counted), once; returns the operation as it now is."""
    updated: Document | None = db[operations.COLLECTION].find_one_and_update(
        {
            "_id": correlation_id,
            "status": {"$in": list(active)},
            "walkedAt": None,
            "counters.total": {"$gt": walked},
        },
        {"$set": {"counters.total": walked, "walkedAt": now, "updatedAt": now}},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        updated = db[operations.COLLECTION].find_one({"_id": correlation_id})
    return updated


def load_campaign(db: Database[Any], correlation_id: str) -> Document | None:
    """The operation without its list of recorded batches (thousands for a large campaign)."""
    found: Document | None = db[operations.COLLECTION].find_one(
        {"_id": correlation_id}, {"recordedBatches": 0}
    )
    return found


# Each batch the walk enqueued, with its pass ids and the lease of the job running it: what
# the watchdog (shared/campaigns/recovery.py) needs to re-send a lost one. `_id` is
# "<correlationId>/<batch id>", so an operation's batches are one `_id` prefix range.
BATCHES = "campaign_batches"


def _batch_key(correlation_id: str, batch_id: str) -> str:
    return f"{correlation_id}/{batch_id}"


def _batches_of(correlation_id: str) -> Document:
    return {"_id": {"$regex": f"^{re.escape(correlation_id)}/"}}


def save_batch(
    db: Database[Any], correlation_id: str, batch_id: str, pass_ids: Sequence[str], *, now: datetime
) -> None:
    """Remember a batch before its message is sent (a send that fails leaves it for the
    watchdog, never loses it)."""
    db[BATCHES].update_one(
        {"_id": _batch_key(correlation_id, batch_id)},
        {
            "$set": {"batch": batch_id, "passIds": list(pass_ids), "enqueuedAt": now},
            "$setOnInsert": {"leasedUntil": None},
        },
        upsert=True,
    )


def lease_batch(
    db: Database[Any],
    correlation_id: str,
    batch_id: str,
    *,
    owner: str,
    until: datetime,
    now: datetime,
) -> bool:
    """Take or renew the lease of a batch for job `owner` until `until`: only when nobody holds
    it, its lease ran out, or `owner` holds it already. True when `owner` holds it now (a batch
    saved before leases existed counts as free); the operation is alive either way."""
    key = _batch_key(correlation_id, batch_id)
    result = db[BATCHES].update_one(
        {
            "_id": key,
            "$or": [{"leasedUntil": None}, {"leasedUntil": {"$lte": now}}, {"owner": owner}],
        },
        {"$set": {"leasedUntil": until, "owner": owner}},
    )
    db[operations.COLLECTION].update_one({"_id": correlation_id}, {"$set": {"aliveAt": now}})
    if result.matched_count == 1:
        return True
    return db[BATCHES].count_documents({"_id": key}, limit=1) == 0


def release_batch(db: Database[Any], correlation_id: str, batch_id: str, *, owner: str) -> None:
    db[BATCHES].update_one(
        {"_id": _batch_key(correlation_id, batch_id), "owner": owner},
        {"$set": {"leasedUntil": None}},
    )


def batches(db: Database[Any], correlation_id: str) -> list[Document]:
    """The operation's batches in batch order: id, pass ids and lease."""
    found = db[BATCHES].find(_batches_of(correlation_id), sort=[("_id", 1)])
    return list(found)


def drop_batches(db: Database[Any], correlation_id: str) -> None:
    """The operation ended: its batches will never be re-sent."""
    db[BATCHES].delete_many(_batches_of(correlation_id))


def recorded_batches(db: Database[Any], correlation_id: str) -> set[str]:
    found = db[operations.COLLECTION].find_one({"_id": correlation_id}, {"recordedBatches": 1})
    return set((found or {}).get("recordedBatches") or ())


def stalled_operations(
    db: Database[Any], *, kind: str, statuses: Sequence[str], cutoff: datetime
) -> list[Document]:
    """Operations of `kind` in `statuses` with no progress (a recorded batch, a status change,
    a batch lease taken or renewed, a recovery) since `cutoff`; served by the partial index
    on the campaigns' status and updatedAt."""
    found = db[operations.COLLECTION].find(
        {**_stalled(cutoff), "kind": kind, "status": {"$in": list(statuses)}},
        {"recordedBatches": 0, "errors": 0},
    )
    return list(found)


def _stalled(cutoff: datetime) -> Document:
    return {
        "updatedAt": {"$lt": cutoff},
        "$or": [{"aliveAt": None}, {"aliveAt": {"$lt": cutoff}}],
    }


def claim_recovery(
    db: Database[Any], correlation_id: str, *, cutoff: datetime, now: datetime
) -> bool:
    """Take the recovery of a stalled operation: of two watchdogs at once, one does it, and
    the next recovery waits for another stall."""
    result = db[operations.COLLECTION].update_one(
        {"_id": correlation_id, **_stalled(cutoff)}, {"$set": {"aliveAt": now}}
    )
    return result.modified_count == 1


def active_campaigns(db: Database[Any], *, kind: str, statuses: Sequence[str]) -> list[Document]:
    """Each campaign of `kind` in `statuses`: its tenant and its total and processed counters
    (the metrics server's passes remaining; served by the campaigns' status index)."""
    found = db[operations.COLLECTION].find(
        {"kind": kind, "status": {"$in": list(statuses)}},
        {"tenant": 1, "status": 1, "counters.total": 1, "counters.processed": 1},
    )
    return list(found)
