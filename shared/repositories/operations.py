"""Operation documents (`operations` collection): `_id` is the correlationId.

Counters move only through `record_batch`, which applies a batch's results at most once
(Celery delivers at least once), so figures stay exact when a task runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "operations"
MAX_STORED_ERRORS = 100


def insert_operation(db: Database[Any], document: Document) -> None:
    db[COLLECTION].insert_one(document)


def find_operation(db: Database[Any], tenant_id: str, correlation_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": correlation_id, "tenant": tenant_id})
    return found


def load_operation(db: Database[Any], correlation_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": correlation_id})
    return found


def transition(
    db: Database[Any],
    correlation_id: str,
    *,
    from_statuses: Iterable[str],
    changes: Document,
    unset: Iterable[str] = (),
    tenant_id: str | None = None,
) -> Document | None:
    """Atomically set `changes` (and remove `unset` fields) if the operation is in one of
    `from_statuses`.

    Returns the updated document, or None when the operation was in another status.
    """
    query: Document = {"_id": correlation_id, "status": {"$in": list(from_statuses)}}
    if tenant_id is not None:
        query["tenant"] = tenant_id
    update: Document = {"$set": changes}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    updated: Document | None = db[COLLECTION].find_one_and_update(
        query, update, return_document=ReturnDocument.AFTER
    )
    return updated


def record_batch(
    db: Database[Any],
    correlation_id: str,
    batch_id: str,
    *,
    counts: dict[str, int],
    errors: list[Document],
    now: datetime,
    statuses: Iterable[str] | None = None,
    also: Document | None = None,
) -> Document | None:
    """Add one batch's counts unless that batch was recorded before (or the operation is in
    none of `statuses`, when given); returns the new document. `also`: fields set in the same
    write (a paused batch's parked passes)."""
    update: Document = {
        "$addToSet": {"recordedBatches": batch_id},
        "$set": {**(also or {}), "updatedAt": now},
    }
    increments = {f"counters.{name}": value for name, value in counts.items() if value}
    if increments:
        update["$inc"] = increments
    if errors:
        update["$push"] = {"errors": {"$each": errors, "$slice": MAX_STORED_ERRORS}}
    query: Document = {"_id": correlation_id, "recordedBatches": {"$ne": batch_id}}
    if statuses is not None:
        query["status"] = {"$in": list(statuses)}
    updated: Document | None = db[COLLECTION].find_one_and_update(
        query,
        update,
        return_document=ReturnDocument.AFTER,
    )
    return updated


def list_operations(
    db: Database[Any],
    tenant_id: str,
    *,
    kind: str | None,
    status: str | None,
    skip: int,
    limit: int,
) -> tuple[list[Document], int]:
    """The tenant's operations, newest first (served by the tenant_createdAt index)."""
    query: Document = {}
    if kind:
        query["kind"] = kind
    if status:
        query["status"] = status
    query["tenant"] = tenant_id  # set last: no filter can replace it
    projection = {"intent": 0, "recordedBatches": 0}
    cursor = (
        db[COLLECTION]
        .find(query, projection)
        .sort([("createdAt", -1), ("_id", -1)])
        .skip(skip)
        .limit(limit)
    )
    return list(cursor), int(db[COLLECTION].count_documents(query))


def take_intent_fields(
    db: Database[Any],
    correlation_id: str,
    names: Iterable[str],
    *,
    present: str,
    statuses: Iterable[str],
) -> Document | None:
    """Remove `intent.<name>` for each of `names` and return the intent as it was, in one
    atomic write; only while `intent.<present>` is there and the operation is in one of
    `statuses`. None otherwise: of two deliveries of a job, one alone gets the fields."""
    before: Document | None = db[COLLECTION].find_one_and_update(
        {
            "_id": correlation_id,
            "status": {"$in": list(statuses)},
            f"intent.{present}": {"$exists": True},
        },
        {"$unset": {f"intent.{name}": "" for name in names}},
        projection={"intent": 1},
        return_document=ReturnDocument.BEFORE,
    )
    return before["intent"] if before is not None else None


def creation_pending(
    db: Database[Any], tenant_id: str, pass_id: str, statuses: tuple[str, ...]
) -> bool:
    """Whether a create job for the pass is in one of `statuses` (its intent names the pass
    until the job ends; the `tenant_intent_passId` index holds only such operations)."""
    query = {
        "tenant": tenant_id,
        "intent.passId": pass_id,
        "kind": "create",
        "status": {"$in": list(statuses)},
    }
    return db[COLLECTION].find_one(query, {"_id": 1}) is not None
