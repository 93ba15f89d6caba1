"""Self-service claims (`self_service_claims`): one pass per (tenant, pass type, identifiers),
so a page reloaded or submitted twice gets the same pass, even when the calls race."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
COLLECTION = "self_service_claims"


def claim(
    db: Database[Any],
    key: str,
    *,
    tenant_id: str,
    pass_id: str,
    correlation_id: str,
    now: datetime,
) -> Document | None:
    """Claim `key` for a new pass; the earlier claim when there is one."""
    try:
        db[COLLECTION].insert_one(
            {
                "_id": key,
                "tenant": tenant_id,
                "passId": pass_id,
                "correlationId": correlation_id,
                "createdAt": now,
            }
        )
    except DuplicateKeyError:
        existing: Document | None = db[COLLECTION].find_one({"_id": key, "tenant": tenant_id})
        return existing
    return None


def release(db: Database[Any], key: str) -> None:
    db[COLLECTION].delete_one({"_id": key})
