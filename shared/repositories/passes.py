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


def count_passes(db: Database[Any], tenant_id: str) -> int:
    return int(db[COLLECTION].count_documents({"tenant": tenant_id}))
