"""Webhook deliveries (`webhook_deliveries` collection): one document per (event, endpoint).

`_id` is the delivery id. Fields: tenant, eventId, type, correlationId, endpoint {id, url,
secretEnv}, body (the exact JSON sent), status (pending | delivered | failed), attempts
(completed attempts), nextAttemptAt, leaseUntil (an attempt in flight until then), lastAttemptAt,
lastStatus, lastError, lastFailure {at, status, error}, finishedAt, history (recent attempts),
createdAt, updatedAt. Documents expire RETENTION_S after creation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import BulkWriteError

Document = dict[str, Any]
COLLECTION = "webhook_deliveries"
RETENTION_S = 30 * 24 * 3600
MAX_HISTORY = 20
_DUPLICATE_KEY = 11000
_SUMMARY = {"body": 0, "history": 0}


def insert_deliveries(db: Database[Any], documents: list[Document]) -> None:
    """Insert new deliveries; ones that already exist (an event emitted again) are kept as is."""
    if not documents:
        return
    try:
        db[COLLECTION].insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != _DUPLICATE_KEY for error in errors):
            raise


def find_delivery(db: Database[Any], tenant_id: str, delivery_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": delivery_id, "tenant": tenant_id})
    return found


def claim_attempt(
    db: Database[Any], delivery_id: str, *, attempt: int, now: datetime, lease_until: datetime
) -> Document | None:
    """Take attempt number `attempt` of a pending delivery, unless another worker holds it or it
    was already made; returns the document, or None."""
    claimed: Document | None = db[COLLECTION].find_one_and_update(
        {
            "_id": delivery_id,
            "status": "pending",
            "attempts": attempt - 1,
            "leaseUntil": {"$lte": now},
        },
        {"$set": {"leaseUntil": lease_until}},
        return_document=ReturnDocument.AFTER,
    )
    return claimed


def record_attempt(
    db: Database[Any], delivery_id: str, *, attempt: int, changes: Document, entry: Document
) -> bool:
    """Store the result of attempt `attempt` (once) and release the lease."""
    result = db[COLLECTION].update_one(
        {"_id": delivery_id, "status": "pending", "attempts": attempt - 1},
        {
            "$set": {**changes, "attempts": attempt},
            "$push": {"history": {"$each": [entry], "$slice": -MAX_HISTORY}},
        },
    )
    return result.modified_count == 1


def endpoint_ids(db: Database[Any], tenant_id: str) -> list[str]:
    return sorted(
        str(value) for value in db[COLLECTION].distinct("endpoint.id", {"tenant": tenant_id})
    )


def count_by_status(db: Database[Any], tenant_id: str, endpoint_id: str, status: str) -> int:
    query = {"tenant": tenant_id, "endpoint.id": endpoint_id, "status": status}
    return int(db[COLLECTION].count_documents(query))


def latest(db: Database[Any], tenant_id: str, endpoint_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one(
        {"tenant": tenant_id, "endpoint.id": endpoint_id},
        _SUMMARY,
        sort=[("createdAt", DESCENDING)],
    )
    return found


def last_failure(db: Database[Any], tenant_id: str, endpoint_id: str) -> Document | None:
    """The delivery of this endpoint whose most recent failed attempt is the latest."""
    # `$type` rather than `$ne: null`: it says "has a failure time" whatever the matcher makes
    # of a path through `lastFailure: null`, and the index on lastFailure.at serves it alike.
    found: Document | None = db[COLLECTION].find_one(
        {"tenant": tenant_id, "endpoint.id": endpoint_id, "lastFailure.at": {"$type": "date"}},
        _SUMMARY,
        sort=[("lastFailure.at", DESCENDING)],
    )
    return found


def list_deliveries(
    db: Database[Any],
    tenant_id: str,
    *,
    status: str | None,
    endpoint_id: str | None,
    skip: int,
    limit: int,
) -> tuple[list[Document], int]:
    """A page of deliveries, newest first, and how many match in all."""
    query: Document = {"tenant": tenant_id}
    if status is not None:
        query["status"] = status
    if endpoint_id is not None:
        query["endpoint.id"] = endpoint_id
    cursor = (
        db[COLLECTION]
        .find(query, {"body": 0})
        .sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
        .skip(skip)
        .limit(limit)
    )
    return list(cursor), int(db[COLLECTION].count_documents(query))


def overdue(db: Database[Any], *, before: datetime, now: datetime, limit: int) -> list[Document]:
    """Pending deliveries whose next attempt is due since `before` and that nobody holds."""
    found = db[COLLECTION].find(
        {"status": "pending", "nextAttemptAt": {"$lt": before}, "leaseUntil": {"$lte": now}},
        {"tenant": 1, "attempts": 1, "correlationId": 1},
        limit=limit,
    )
    return list(found)
