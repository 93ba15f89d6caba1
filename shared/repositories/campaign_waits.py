"""Reads and writes of campaigns that wait (`operations` collection): scheduled ones coming
due, and the passes a paused campaign's batches parked (shared/campaigns/scheduling.py and
pausing.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from shared.repositories import operations

Document = dict[str, Any]
# A paused batch's unprocessed pass ids, by the id of the batch that will process them.
PARKED = "parked"
# A preview operation's sample diffs (the first few batches to find some).
SAMPLES = "previewSamples"


def due_scheduled(db: Database[Any], *, status: str, now: datetime, limit: int) -> list[Document]:
    """Operations in `status` whose `scheduledAt` has come, earliest first (served by the
    partial index on scheduledAt)."""
    found = db[operations.COLLECTION].find(
        {"status": status, "scheduledAt": {"$lte": now}},
        {"_id": 1, "tenant": 1, "scheduledAt": 1},
        sort=[("scheduledAt", 1)],
        limit=limit,
    )
    return list(found)


def take_parked(
    db: Database[Any],
    tenant_id: str,
    correlation_id: str,
    *,
    from_status: str,
    changes: Mapping[str, Any],
) -> tuple[Document, dict[str, list[str]]] | None:
    """Move the operation out of `from_status` (setting `changes`) and take its parked batches,
    in one atomic write: of two requests at once, one gets them. None when it was in another
    status."""
    before: Document | None = db[operations.COLLECTION].find_one_and_update(
        {"_id": correlation_id, "tenant": tenant_id, "status": from_status},
        {"$set": dict(changes), "$unset": {PARKED: ""}},
        projection={"recordedBatches": 0},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        return None
    parked = {str(batch): list(ids) for batch, ids in (before.get(PARKED) or {}).items()}
    return before, parked


def take_one_parked(db: Database[Any], correlation_id: str, batch_id: str) -> list[str] | None:
    """Take one parked batch's pass ids (None when a resume or another job took them)."""
    before: Document | None = db[operations.COLLECTION].find_one_and_update(
        {"_id": correlation_id, f"{PARKED}.{batch_id}": {"$exists": True}},
        {"$unset": {f"{PARKED}.{batch_id}": ""}},
        projection={f"{PARKED}.{batch_id}": 1},
        return_document=ReturnDocument.BEFORE,
    )
    return None if before is None else list(before[PARKED][batch_id])


def parking(batch_id: str, pass_ids: Sequence[str]) -> Document:
    """The `$set` that parks `pass_ids` under `batch_id` (written with the batch's record)."""
    return {f"{PARKED}.{batch_id}": list(pass_ids)}


def keep_samples(
    db: Database[Any], correlation_id: str, samples: Sequence[Document], keep: int
) -> None:
    """Add `samples` to a preview operation's, while it holds fewer than `keep` and none of
    their passes: a batch delivered again adds its samples once."""
    db[operations.COLLECTION].update_one(
        {
            "_id": correlation_id,
            f"{SAMPLES}.{keep - 1}": {"$exists": False},
            f"{SAMPLES}.passId": {"$nin": [sample["passId"] for sample in samples]},
        },
        {"$push": {SAMPLES: {"$each": list(samples), "$slice": keep}}},
    )
