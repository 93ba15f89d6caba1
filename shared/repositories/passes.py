"""Pass documents (`passes` collection): `_id` is the pass id (Apple serial number)."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
COLLECTION = "passes"


def insert_pass(db: Database[Any], document: Document) -> bool:
    """Insert a new pass; False when a pass with that id already exists."""
    try:
        db[COLLECTION].insert_one(document)
    except DuplicateKeyError:
        return False
    return True


def find_pass(db: Database[Any], tenant_id: str, pass_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": pass_id, "tenant": tenant_id})
    return found


def update_pass(
    db: Database[Any],
    tenant_id: str,
    pass_id: str,
    *,
    expected_version: int,
    changes: Document,
) -> bool:
    """Apply `changes` and bump the version if nobody changed the pass since it was read."""
    result = db[COLLECTION].update_one(
        {"_id": pass_id, "tenant": tenant_id, "version": expected_version},
        {"$set": {**changes, "version": expected_version + 1}},
    )
    return result.modified_count == 1


def clear_apple_push_pending(db: Database[Any], tenant_id: str, pass_id: str, tag: int) -> None:
    """The push for Apple version `tag` was sent; a newer version keeps its own flag."""
    db[COLLECTION].update_one(
        {"_id": pass_id, "tenant": tenant_id, "apple.updateTag": tag},
        {"$unset": {"applePushPending": ""}},
    )
