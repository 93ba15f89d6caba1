"""API keys (`api_keys` collection): `_id` is the public key id; only the hash is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "api_keys"


def insert_key(
    db: Database[Any],
    *,
    key_id: str,
    tenant_id: str,
    name: str,
    scopes: list[str],
    key_hash: str,
    now: datetime,
) -> None:
    db[COLLECTION].insert_one(
        {
            "_id": key_id,
            "tenant": tenant_id,
            "name": name,
            "scopes": scopes,
            "keyHash": key_hash,
            "createdAt": now,
            "revokedAt": None,
        }
    )


def find_key(db: Database[Any], key_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": key_id})
    return found


def list_keys(db: Database[Any], tenant_id: str) -> list[Document]:
    cursor = db[COLLECTION].find({"tenant": tenant_id}, {"keyHash": 0}).sort("createdAt", 1)
    return list(cursor)


def revoke_key(db: Database[Any], key_id: str, now: datetime) -> bool:
    result = db[COLLECTION].update_one(
        {"_id": key_id, "revokedAt": None}, {"$set": {"revokedAt": now}}
    )
    return result.modified_count == 1
