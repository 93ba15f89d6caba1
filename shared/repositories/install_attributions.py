"""Install attributions (`install_attributions` collection): one document per install
(an Apple device registering, a Google save) that followed a link click within the
attribution window, carrying that click's medium and tags (shared/attribution.py).

Kept apart from the passes and their counters: statistics read it through
`installs_by_medium` / `installs_by_tag` and nothing else writes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "install_attributions"


def record_attribution(
    db: Database[Any],
    *,
    tenant_id: str,
    pass_id: str,
    wallet: str,
    medium: str | None,
    tags: list[str],
    clicked_at: datetime,
    installed_at: datetime,
) -> None:
    db[COLLECTION].insert_one(
        {
            "tenant": tenant_id,
            "passId": pass_id,
            "wallet": wallet,
            "medium": medium,
            "tags": tags,
            "clickedAt": clicked_at,
            "installedAt": installed_at,
        }
    )


def attributions_for_pass(db: Database[Any], tenant_id: str, pass_id: str) -> list[Document]:
    """A pass's attributed installs, oldest first."""
    cursor = db[COLLECTION].find({"tenant": tenant_id, "passId": pass_id}, {"_id": 0})
    return list(cursor.sort("installedAt", 1))


def _in_range(tenant_id: str, start: datetime | None, end: datetime | None) -> Document:
    window: Document = {}
    if start is not None:
        window["$gte"] = start
    if end is not None:
        window["$lt"] = end
    query: Document = {"tenant": tenant_id}
    if window:
        query["installedAt"] = window
    return query


def count_installs(
    db: Database[Any],
    tenant_id: str,
    *,
    by: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Document]:
    """Attributed installs in [start, end) per `by` (`medium` or `tag`) and wallet:
    `[{"key": ..., "wallet": ..., "installs": n}]`. An install with several tags counts
    once under each; one without a medium counts under the key None."""
    if by not in ("medium", "tag"):
        raise ValueError(f"by must be medium or tag, got {by!r}")
    pipeline: list[Document] = [{"$match": _in_range(tenant_id, start, end)}]
    if by == "tag":
        pipeline.append({"$unwind": "$tags"})
    key = "$medium" if by == "medium" else "$tags"
    pipeline.append({"$group": {"_id": {"key": key, "wallet": "$wallet"}, "installs": {"$sum": 1}}})
    return [
        {"key": row["_id"].get("key"), "wallet": row["_id"]["wallet"], "installs": row["installs"]}
        for row in db[COLLECTION].aggregate(pipeline)
    ]
