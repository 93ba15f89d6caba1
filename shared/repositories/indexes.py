"""Indexes every query of passwire relies on, created at start-up (idempotent)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database

from shared.repositories import operations, passes

INDEXES: dict[str, list[IndexModel]] = {
    passes.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("passType", ASCENDING)], name="tenant_passType"),
        IndexModel([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="tenant_createdAt"),
    ],
    operations.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="tenant_createdAt"),
    ],
}


def ensure_indexes(db: Database[Any]) -> None:
    for collection, models in INDEXES.items():
        db[collection].create_indexes(models)
