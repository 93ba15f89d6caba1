"""Monotonic sequences (`counters` collection), e.g. the Apple update tags.

A device asks "what changed since tag N": tags must only ever grow, even across processes,
so they come from one atomic `$inc` rather than from clocks.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

COLLECTION = "counters"


def reserve(db: Database[Any], name: str, count: int = 1) -> range:
    """Reserve `count` consecutive values of sequence `name` (first value is 1)."""
    document: dict[str, Any] | None = db[COLLECTION].find_one_and_update(
        {"_id": name},
        {"$inc": {"value": count}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert document is not None  # upsert=True with ReturnDocument.AFTER always returns one
    last = int(document["value"])
    return range(last - count + 1, last + 1)
