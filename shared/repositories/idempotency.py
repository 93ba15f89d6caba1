"""Idempotency records (`idempotency_keys` collection): `_id` is `<tenant>:<key>`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
COLLECTION = "idempotency_keys"


def claim(db: Database[Any], record_id: str, fingerprint: str, now: datetime) -> Document | None:
    """Claim a key for a new request; returns the existing record when it was taken."""
    try:
        db[COLLECTION].insert_one(
            {"_id": record_id, "fingerprint": fingerprint, "state": "in_progress", "createdAt": now}
        )
    except DuplicateKeyError:
        existing: Document | None = db[COLLECTION].find_one({"_id": record_id})
        return existing
    return None


def complete(db: Database[Any], record_id: str, response: Document) -> None:
    db[COLLECTION].update_one(
        {"_id": record_id}, {"$set": {"state": "completed", "response": response}}
    )


def release(db: Database[Any], record_id: str, created_before: datetime | None = None) -> None:
    """Forget a key (its request failed, or it expired), so it can be used again."""
    query: Document = {"_id": record_id}
    if created_before is not None:
        query["createdAt"] = {"$lt": created_before}
    db[COLLECTION].delete_one(query)
