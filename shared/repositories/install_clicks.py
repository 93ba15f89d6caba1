"""Install clicks (`install_clicks` collection): one document per "Add to … Wallet" download,
with where it came from (medium, Referer host, user agent) for the brand's campaign reports."""

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
            "origin": origin,
            "userAgent": user_agent[:USER_AGENT_MAX] if user_agent else None,
            "at": at,
        }
    )


def clicks_for_pass(db: Database[Any], tenant_id: str, pass_id: str) -> list[Document]:
    """A pass's clicks, oldest first."""
    cursor = db[COLLECTION].find({"tenant": tenant_id, "passId": pass_id}, {"_id": 0})
    return list(cursor.sort("at", 1))
