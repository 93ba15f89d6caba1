"""Writes of a pass's deletion: voiding it whatever its status, removing it, and releasing
its self-service claim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

from shared.repositories import self_service_claims
from shared.repositories.passes import COLLECTION

VOIDED = "voided"


def force_void(db: Database[Any], tenant_id: str, pass_id: str, now: datetime) -> bool:
    """Set the pass `voided` unless it is already; True when this call changed it. Not a
    transition checked against the current status: a pass being deleted is voided, full
    stop. The version moves, so an update job rendering the old status renders again."""
    result = db[COLLECTION].update_one(
        {"_id": pass_id, "tenant": tenant_id, "status": {"$ne": VOIDED}},
        {
            "$set": {"status": VOIDED, "statusChangedAt": now, "updatedAt": now},
            "$inc": {"version": 1},
        },
    )
    return result.modified_count == 1


def remove_pass(db: Database[Any], tenant_id: str, pass_id: str) -> dict[str, Any] | None:
    """Delete the pass document; what this call deleted (what statistics count of it), or None
    when it was gone already."""
    removed: dict[str, Any] | None = db[COLLECTION].find_one_and_delete(
        {"_id": pass_id, "tenant": tenant_id},
        projection={"tenant": 1, "passType": 1, "providers": 1},
    )
    return removed


def release_self_service_claims(db: Database[Any], tenant_id: str, pass_id: str) -> None:
    """The same identifiers may be issued a new pass by self-service now."""
    db[self_service_claims.COLLECTION].delete_many({"tenant": tenant_id, "passId": pass_id})
