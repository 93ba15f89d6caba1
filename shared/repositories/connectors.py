"""Connectors defined through the API (api/connectors/manage.py), one document per
connector, `_id` "<tenant>/<name>": its TOML text as sent (environment variable names, never
secrets) and a version that grows with every PUT, so each process reloads a definition only
when it changed (shared/connectors/stored.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

COLLECTION = "connectors"


def _id(tenant_id: str, name: str) -> str:
    return f"{tenant_id}/{name}"


def put(
    db: Database[Any], tenant_id: str, name: str, toml: str, *, platform: str, now: datetime
) -> int:
    """Store the definition (a new one or a replacement); its new version number."""
    document: dict[str, Any] | None = db[COLLECTION].find_one_and_update(
        {"_id": _id(tenant_id, name)},
        {
            "$set": {
                "tenant": tenant_id,
                "name": name,
                "toml": toml,
                "platform": platform,
                "updatedAt": now,
            },
            "$inc": {"version": 1},
            "$setOnInsert": {"createdAt": now},
        },
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert document is not None  # upserted
    return int(document["version"])


def find(db: Database[Any], tenant_id: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[COLLECTION].find_one({"_id": _id(tenant_id, name)})
    return found


def of_tenant(db: Database[Any], tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's definitions, by name: the per-process lookup (one indexed query)."""
    return list(db[COLLECTION].find({"tenant": tenant_id}, sort=[("name", 1)]))


def delete(db: Database[Any], tenant_id: str, name: str) -> bool:
    return db[COLLECTION].delete_one({"_id": _id(tenant_id, name)}).deleted_count == 1
