"""Operator dashboard sessions (`dashboard_sessions`): a read key exchanged for a cookie
(api/dashboard/). Only the SHA-256 of the cookie's token is stored; MongoDB's TTL index on
`expiresAt` removes ended sessions (shared/repositories/indexes.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "dashboard_sessions"


def open_session(
    db: Database[Any],
    *,
    token_hash: str,
    tenant_id: str,
    credential: str,
    scopes: Iterable[str],
    csrf: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    db[COLLECTION].insert_one(
        {
            "_id": token_hash,
            "tenant": tenant_id,
            "credential": credential,
            "scopes": sorted(scopes),
            "csrf": csrf,
            "createdAt": now,
            "expiresAt": expires_at,
        }
    )


def find_session(
    db: Database[Any], token_hash: str, tenant_id: str, now: datetime
) -> Document | None:
    """The tenant's session with this token, unless it has ended (the TTL index removes
    ended ones only about once a minute)."""
    found: Document | None = db[COLLECTION].find_one(
        {"_id": token_hash, "tenant": tenant_id, "expiresAt": {"$gt": now}}
    )
    return found


def close_session(db: Database[Any], token_hash: str) -> None:
    db[COLLECTION].delete_one({"_id": token_hash})
