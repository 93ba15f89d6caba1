"""Tombstones of deleted passes (`pass_tombstones` collection): statistics that outlive them.

Each holds tenant, passType, createdAt (the pass's), deletedAt and, once erased, erasedAt;
never identifiers, metadata or device data. A plainly deleted pass's tombstone is keyed by
`pass_key` (a hash of tenant and pass id) and names the operation that deleted it, so that a
redelivered job recognises its own work and a later erasure finds it. Erasing replaces it
by one keyed by the erasing operation's correlation id: nothing in it leads back to the pass.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "pass_tombstones"


def pass_key(tenant_id: str, pass_id: str) -> str:
    return hashlib.sha256(f"{tenant_id}\n{pass_id}".encode()).hexdigest()


def record_deletion(
    db: Database[Any],
    *,
    tenant_id: str,
    pass_id: str,
    pass_type: str,
    created_at: datetime | None,
    deleted_at: datetime,
    correlation_id: str,
) -> None:
    """The tombstone of a plainly deleted pass; the first deletion recorded stays."""
    db[COLLECTION].update_one(
        {"_id": pass_key(tenant_id, pass_id)},
        {
            "$setOnInsert": {
                "tenant": tenant_id,
                "passType": pass_type,
                "createdAt": created_at,
                "deletedAt": deleted_at,
                "deletedBy": correlation_id,
            }
        },
        upsert=True,
    )


def find_deletion(db: Database[Any], tenant_id: str, pass_id: str) -> Document | None:
    """The tombstone of a pass deleted without erasure, if any."""
    found: Document | None = db[COLLECTION].find_one(
        {"_id": pass_key(tenant_id, pass_id), "tenant": tenant_id}
    )
    return found


def record_erasure(
    db: Database[Any],
    *,
    tenant_id: str,
    pass_type: str,
    created_at: datetime | None,
    deleted_at: datetime,
    erased_at: datetime,
    correlation_id: str,
) -> None:
    """The anonymous tombstone of an erased pass, once per erasing operation."""
    db[COLLECTION].update_one(
        {"_id": correlation_id},
        {
            "$setOnInsert": {
                "tenant": tenant_id,
                "passType": pass_type,
                "createdAt": created_at,
                "deletedAt": deleted_at,
                "erasedAt": erased_at,
            }
        },
        upsert=True,
    )


def erasure_recorded(db: Database[Any], correlation_id: str) -> bool:
    return db[COLLECTION].find_one({"_id": correlation_id}, {"_id": 1}) is not None


def forget_deletion(db: Database[Any], tenant_id: str, pass_id: str) -> None:
    """Drop the linkable tombstone (its erasure recorded an anonymous one)."""
    db[COLLECTION].delete_one({"_id": pass_key(tenant_id, pass_id), "tenant": tenant_id})
