"""Install clicks (`install_clicks` collection): one document per "Add to … Wallet" download,
with where it came from (medium, tags, Referer host, user agent) for the brand's campaign
reports and for attributing the install that follows (shared/attribution.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "install_clicks"
USER_AGENT_MAX = 256


def record_click(
    db: Database[Any],
    *,
    tenant_id: str,
    pass_id: str,
    wallet: str,
    medium: str | None,
    tags: tuple[str, ...] = (),
    origin: str | None,
    user_agent: str | None,
    at: datetime,
) -> None:
    db[COLLECTION].insert_one(
        {
            "passId": pass_id,
            "tenant": tenant_id,
            "wallet": wallet,
            "medium": medium,
            "tags": list(tags),
            "origin": origin,
            "userAgent": user_agent[:USER_AGENT_MAX] if user_agent else None,
            "at": at,
        }
    )


def clicks_for_pass(db: Database[Any], tenant_id: str, pass_id: str) -> list[Document]:
    """A pass's clicks, oldest first."""
    cursor = db[COLLECTION].find({"tenant": tenant_id, "passId": pass_id}, {"_id": 0})
    return list(cursor.sort("at", 1))


def latest_click(
    db: Database[Any], tenant_id: str, pass_id: str, wallet: str, *, since: datetime
) -> Document | None:
    """The pass's most recent click for `wallet` at or after `since`, if any."""
    query = {"tenant": tenant_id, "passId": pass_id, "wallet": wallet, "at": {"$gte": since}}
    found = db[COLLECTION].find(query, {"_id": 0}).sort("at", -1).limit(1)
    return next(iter(found), None)
