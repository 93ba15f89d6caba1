"""Passes whose Apple push or Google object is still owed long after their last change, for
the resend sweep (shared/passes/resending.py). The owed flags (`applePushPending`,
`googlePending`) are set in the write that stores a new rendering and cleared once the wallet
has it; `resendAfter` is when the sweep may try a pass again. A Google object counts only
while someone holds it (`googleHolder`, a string then): the others wait for their Save link
click, not for the sweep."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.database import Database

from shared.passes.google_versions import HOLDER_FIELD
from shared.repositories import passes

OWED_FLAGS = ("applePushPending", "googlePending")
# What each flag's branch also requires (the partial indexes' filters, repositories/indexes.py).
OWED_WHEN: dict[str, dict[str, Any]] = {
    "applePushPending": {"applePushPending": True},
    "googlePending": {"googlePending": True, HOLDER_FIELD: {"$type": "string"}},
}


def _retry_due(now: datetime) -> dict[str, Any]:
    return {"$or": [{"resendAfter": {"$exists": False}}, {"resendAfter": {"$lte": now}}]}


def _owed(before: datetime) -> dict[str, Any]:
    # One branch per flag, each with the date: the partial indexes (repositories/indexes.py)
    # serve a branch each.
    return {"$or": [{**OWED_WHEN[flag], "updatedAt": {"$lt": before}} for flag in OWED_FLAGS]}


def owed_before(
    db: Database[Any], tenant_ids: Iterable[str], *, before: datetime, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """(`_id`, `tenant`, `updatedAt`) of passes last changed before `before` that still owe a
    wallet something and are due a retry, longest-owed first."""
    tenants = list(tenant_ids)
    found: dict[Any, dict[str, Any]] = {}
    # One query per flag, each served by that flag's partial index in `updatedAt` order.
    for flag in OWED_FLAGS:
        query = {
            **OWED_WHEN[flag],
            "updatedAt": {"$lt": before},
            "tenant": {"$in": tenants},
            **_retry_due(now),
        }
        projection = {"tenant": 1, "updatedAt": 1}
        for document in db[passes.COLLECTION].find(
            query, projection, sort=[("updatedAt", 1)], limit=limit
        ):
            found[document["_id"]] = document
    return sorted(found.values(), key=lambda document: document["updatedAt"])[:limit]


def claim_resend(
    db: Database[Any],
    tenant_id: str,
    pass_id: str,
    *,
    before: datetime,
    now: datetime,
    retry_after: datetime,
) -> bool:
    """Take the pass for one resend; False when another sweep took it first, or when it
    changed since it was listed (its own job delivers that change)."""
    query = {"_id": pass_id, "tenant": tenant_id, "$and": [_owed(before), _retry_due(now)]}
    result = db[passes.COLLECTION].update_one(query, {"$set": {"resendAfter": retry_after}})
    return result.modified_count == 1


def release_resend(db: Database[Any], tenant_id: str, pass_id: str) -> None:
    """Give back a claim whose refresh could not be queued: the next sweep tries it."""
    db[passes.COLLECTION].update_one(
        {"_id": pass_id, "tenant": tenant_id}, {"$unset": {"resendAfter": ""}}
    )
