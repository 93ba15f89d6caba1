"""Indexes every query of passwire relies on, created at start-up (idempotent)."""

from __future__ import annotations

import logging
import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database
from pymongo.errors import ConnectionFailure

from shared.repositories import operations, passes, registrations

log = logging.getLogger(__name__)

INDEXES: dict[str, list[IndexModel]] = {
    passes.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("passType", ASCENDING)], name="tenant_passType"),
        IndexModel([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="tenant_createdAt"),
    ],
    operations.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="tenant_createdAt"),
    ],
    registrations.COLLECTION: [
        IndexModel(
            [
                ("deviceLibraryIdentifier", ASCENDING),
                ("passTypeIdentifier", ASCENDING),
                ("serialNumber", ASCENDING),
            ],
            name="device_passType_serial",
            unique=True,
        ),
        # Every registered device of a pass (APNs fan-out, clean-up when a pass goes).
        IndexModel([("tenant", ASCENDING), ("serialNumber", ASCENDING)], name="tenant_serial"),
        # APNs answers 410 for a push token that is no longer valid.
        IndexModel(
            [("pushToken", ASCENDING), ("passTypeIdentifier", ASCENDING)],
            name="pushToken_passType",
        ),
    ],
}


def ensure_indexes(db: Database[Any], *, wait_s: float = 0) -> None:
    """Create every index; with `wait_s`, keep trying that long while MongoDB comes up."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            for collection, models in INDEXES.items():
                db[collection].create_indexes(models)
            return
        except ConnectionFailure:
            if time.monotonic() >= deadline:
                raise
            log.warning("MongoDB not reachable yet; retrying index creation")
            time.sleep(2)
