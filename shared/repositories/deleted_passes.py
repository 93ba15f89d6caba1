"""What Apple devices still need of a deleted pass (`deleted_passes` collection).

Deleting a pass voids it first and pushes its devices; each device then asks the PassKit
web service which passes changed and fetches the voided version. Were the pass simply gone,
the device would get 401 and keep showing the last version it had, still valid. So a plain
delete keeps this remnant, and only while devices are registered for the pass: `_id` (the
serial), tenant, passType, authenticationToken and the signed voided Apple version. No
identifiers, metadata or additionalData (the signed pass.json shows what the holder saw).

It goes when the last device unregisters, when the pass is erased, or RETENTION_S after the
deletion (a TTL index): by then every device that was online has fetched the voided version.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "deleted_passes"
RETENTION_S = 30 * 24 * 3600
# The parts of the stored Apple version a device's fetch and update listing read.
_APPLE_FIELDS = (
    "passTypeIdentifier",
    "contentHash",
    "passJson",
    "manifest",
    "signature",
    "updateTag",
    "lastModified",
    "strings",  # only on passes carrying messages: their own pass.strings
    "images",  # only on passes with images chosen per pass: which ones were signed
)


def keep_remnant(db: Database[Any], document: Mapping[str, Any], *, now: datetime) -> None:
    """Keep what devices need of `document`, a pass with an Apple version, being deleted."""
    apple = document["apple"]
    db[COLLECTION].replace_one(
        {"_id": document["_id"]},
        {
            "tenant": document["tenant"],
            "passType": document["passType"],
            "status": document.get("status"),
            "authenticationToken": document["authenticationToken"],
            "apple": {name: apple[name] for name in _APPLE_FIELDS if name in apple},
            "deletedAt": now,
        },
        upsert=True,
    )


def find_remnant(db: Database[Any], tenant_id: str, pass_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": pass_id, "tenant": tenant_id})
    return found


def forget_remnant(db: Database[Any], tenant_id: str, pass_id: str) -> bool:
    result = db[COLLECTION].delete_one({"_id": pass_id, "tenant": tenant_id})
    return result.deleted_count > 0
