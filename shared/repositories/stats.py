"""Statistics kept on write (shared/stats/): per tenant and pass type, counters of the pass
population (`pass_counters`) and daily event buckets (`stats_timeline`); and what the
reconcile sweep found (`stats_drift`).

Every write is one `$inc` on a document keyed by `_id` (an upsert by `_id` cannot race into a
duplicate): concurrent writers add up exactly, whatever their order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database

Document = dict[str, Any]
# shared/repositories/passes.py COLLECTION, not imported: passes.py counts through shared/stats.
PASSES = "passes"
COUNTERS = "pass_counters"
TIMELINE = "stats_timeline"
DRIFT = "stats_drift"
# The population counters, as the passes collection defines them (population_of).
COUNTER_FIELDS = ("total", "active", "apple", "google")


def _counter_key(tenant_id: str, pass_type: str) -> str:
    return f"{tenant_id}/{pass_type}"


def add_to_counters(
    db: Database[Any], tenant_id: str, pass_type: str, deltas: Mapping[str, int], now: datetime
) -> None:
    """Add `deltas` (some of COUNTER_FIELDS) to the counters of the tenant's pass type."""
    increments = {name: value for name, value in deltas.items() if value}
    if not increments:
        return
    db[COUNTERS].update_one(
        {"_id": _counter_key(tenant_id, pass_type)},
        {
            "$inc": increments,
            "$set": {"updatedAt": now},
            "$setOnInsert": {"tenant": tenant_id, "passType": pass_type},
        },
        upsert=True,
    )


def read_counters(db: Database[Any], tenant_id: str) -> dict[str, dict[str, int]]:
    """The tenant's counters by pass type (one small document per pass type)."""
    found = db[COUNTERS].find({"tenant": tenant_id})
    return {
        str(document["passType"]): {name: int(document.get(name, 0)) for name in COUNTER_FIELDS}
        for document in found
    }


def population_of(db: Database[Any], tenant_id: str, pass_type: str) -> dict[str, int]:
    """What the counters must equal, counted over the passes collection (the sweep's scan)."""
    base: Document = {"tenant": tenant_id, "passType": pass_type}
    apple: Document = {"providers.apple": {"$type": "object"}}
    google: Document = {"providers.google": {"$type": "object"}}
    passes = db[PASSES]
    return {
        "total": passes.count_documents(base),
        "active": passes.count_documents({**base, "$or": [apple, google]}),
        "apple": passes.count_documents({**base, **apple}),
        "google": passes.count_documents({**base, **google}),
    }


def pass_type_of(db: Database[Any], tenant_id: str, pass_id: str) -> str | None:
    found = db[PASSES].find_one({"_id": pass_id, "tenant": tenant_id}, {"passType": 1})
    return None if found is None else str(found["passType"])


def pass_types_of(db: Database[Any], tenant_id: str) -> set[str]:
    """Pass types the tenant has passes or counters of."""
    stored = {str(name) for name in db[PASSES].distinct("passType", {"tenant": tenant_id})}
    counted = {str(name) for name in db[COUNTERS].distinct("passType", {"tenant": tenant_id})}
    return stored | counted


def count_by_status(db: Database[Any], tenant_id: str) -> dict[str, dict[str, int]]:
    """Passes by pass type, then status (no status: active), for the dashboard: a grouped
    count over the tenant's range of the tenant_passType index, not a per-request API."""
    pipeline: list[Document] = [
        {"$match": {"tenant": tenant_id}},
        {"$group": {"_id": {"type": "$passType", "status": "$status"}, "n": {"$sum": 1}}},
    ]
    table: dict[str, dict[str, int]] = {}
    for row in db[PASSES].aggregate(pipeline):
        key = row["_id"]
        status = str(key.get("status") or "active")
        by_status = table.setdefault(str(key.get("type")), {})
        by_status[status] = by_status.get(status, 0) + int(row["n"])
    return table


def _bucket_key(tenant_id: str, day: str, dimension: str, group: str) -> str:
    return f"{tenant_id}/{day}/{dimension}/{group}"


def add_to_timeline(
    db: Database[Any],
    tenant_id: str,
    *,
    day: str,
    dimension: str,
    group: str,
    counts: Mapping[str, int],
) -> None:
    """Add `counts` (event name -> n) to the tenant's bucket of `day` (YYYY-MM-DD) for one
    group of one dimension (passType: the pass type's name)."""
    increments = {f"counts.{name}": value for name, value in counts.items() if value}
    if not increments:
        return
    db[TIMELINE].update_one(
        {"_id": _bucket_key(tenant_id, day, dimension, group)},
        {
            "$inc": increments,
            "$setOnInsert": {
                "tenant": tenant_id,
                "day": day,
                "dimension": dimension,
                "group": group,
            },
        },
        upsert=True,
    )


def read_timeline(
    db: Database[Any], tenant_id: str, *, dimension: str, first_day: str, last_day: str
) -> list[Document]:
    """The tenant's buckets of one dimension from `first_day` to `last_day` (inclusive, ISO
    dates compare as strings), by day then group."""
    cursor = db[TIMELINE].find(
        {
            "tenant": tenant_id,
            "dimension": dimension,
            "day": {"$gte": first_day, "$lte": last_day},
        },
        {"_id": 0, "day": 1, "group": 1, "counts": 1},
        sort=[("day", 1), ("group", 1)],
    )
    return list(cursor)


def pending_drift(db: Database[Any], tenant_id: str, pass_type: str) -> Document | None:
    """The drift the last sweep saw and did not repair yet, if any."""
    found: Document | None = db[DRIFT].find_one(
        {"tenant": tenant_id, "passType": pass_type, "repairedAt": None, "dismissedAt": None},
        sort=[("seenAt", -1)],
    )
    return found


def record_drift(
    db: Database[Any],
    tenant_id: str,
    pass_type: str,
    *,
    drift: Mapping[str, int],
    seen_at: datetime,
    repaired: bool,
) -> None:
    """Keep what a sweep found: earlier unrepaired sightings are superseded by this one."""
    db[DRIFT].update_many(
        {"tenant": tenant_id, "passType": pass_type, "repairedAt": None, "dismissedAt": None},
        {"$set": {"dismissedAt": seen_at}},
    )
    db[DRIFT].insert_one(
        {
            "tenant": tenant_id,
            "passType": pass_type,
            "drift": dict(drift),
            "seenAt": seen_at,
            "repairedAt": seen_at if repaired else None,
            "dismissedAt": None,
        }
    )


def dismiss_drift(db: Database[Any], tenant_id: str, pass_type: str, now: datetime) -> None:
    """The counters agree again: a drift seen earlier was a write in flight."""
    db[DRIFT].update_many(
        {"tenant": tenant_id, "passType": pass_type, "repairedAt": None, "dismissedAt": None},
        {"$set": {"dismissedAt": now}},
    )


def drift_history(db: Database[Any], tenant_ids: Iterable[str], *, limit: int) -> list[Document]:
    """The latest drift records of these tenants, newest first."""
    cursor = db[DRIFT].find(
        {"tenant": {"$in": list(tenant_ids)}}, {"_id": 0}, sort=[("seenAt", -1)], limit=limit
    )
    return list(cursor)
