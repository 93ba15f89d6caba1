"""Lifecycle writes on pass documents: status, expirationDate and balance, each decided by one
conditional update so concurrent requests cannot both win.

Every change bumps the pass's `version`: an update job that rendered the pass as it was
before fails its version-guarded write and renders it again (shared/passes/updating.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from shared.repositories.passes import COLLECTION

Document = dict[str, Any]
ACTIVE = "active"
# Passes stored before statuses existed have none: they count as active.
_ACTIVE_STATUS: Document = {"$in": [ACTIVE, None]}
_STATE_FIELDS: Document = {
    "status": 1,
    "expirationDate": 1,
    "statusChangedAt": 1,
    "version": 1,
}
# A change's filter pins these; restoring puts them back.
LIFECYCLE_FIELDS = ("status", "expirationDate", "statusChangedAt")


def _not_lapsed(now: datetime) -> Document:
    return {"$or": [{"expirationDate": None}, {"expirationDate": {"$gt": now}}]}


def change_status(
    db: Database[Any],
    tenant_id: str,
    pass_id: str,
    *,
    expected: Mapping[str, Any],
    status: str,
    expiration_date: datetime | None,
    status_changed: bool,
    now: datetime,
) -> Document | None:
    """Store the new status and expirationDate if the pass still has the `expected` status
    and expirationDate (None matching a missing one); the pass as it now is, or None."""
    query: Document = {
        "_id": pass_id,
        "tenant": tenant_id,
        "status": expected.get("status"),
        "expirationDate": expected.get("expirationDate"),
    }
    changes: Document = {"status": status, "updatedAt": now}
    if status_changed:
        changes["statusChangedAt"] = now
    update: Document = {"$set": changes, "$inc": {"version": 1}}
    if expiration_date is None:
        update["$unset"] = {"expirationDate": ""}
    else:
        changes["expirationDate"] = expiration_date
    found: Document | None = db[COLLECTION].find_one_and_update(
        query, update, projection=_STATE_FIELDS, return_document=ReturnDocument.AFTER
    )
    return found


def restore_status(
    db: Database[Any], tenant_id: str, pass_id: str, *, version: int, previous: Mapping[str, Any]
) -> bool:
    """Undo a change_status that left the pass at `version`, if nothing changed it since."""
    kept = {name: previous[name] for name in LIFECYCLE_FIELDS if previous.get(name) is not None}
    gone = {name: "" for name in LIFECYCLE_FIELDS if previous.get(name) is None}
    update: Document = {"$set": kept, "$inc": {"version": 1}}
    if gone:
        update["$unset"] = gone
    result = db[COLLECTION].update_one(
        {"_id": pass_id, "tenant": tenant_id, "version": version}, update
    )
    return result.modified_count == 1


def apply_balance_delta(
    db: Database[Any],
    tenant_id: str,
    pass_id: str,
    *,
    delta: int,
    reference: str | None,
    minimum: int | None,
    unit: str,
    currency: str | None,
    now: datetime,
    remembered: int,
) -> Document | None:
    """Add `delta` to the balance of an active pass in one `$inc`, unless `reference` was
    applied already or the amount would fall below `minimum` (None: no floor). The reference
    joins the last `remembered` ones in the same write. The pass's balance after, or None."""
    query: Document = {
        "_id": pass_id,
        "tenant": tenant_id,
        "status": _ACTIVE_STATUS,
        **_not_lapsed(now),
    }
    if reference is not None:
        query["balance.applied.reference"] = {"$ne": reference}
    if minimum is not None and delta < 0:
        # amount + delta >= minimum; a pass without a balance has 0 and no such field.
        query["balance.amount"] = {"$gte": minimum - delta}
    stamp: Document = {"balance.unit": unit, "updatedAt": now}
    if currency is not None:
        stamp["balance.currency"] = currency
    update: Document = {"$inc": {"balance.amount": delta, "version": 1}, "$set": stamp}
    if reference is not None:
        entry = {"reference": reference, "delta": delta, "at": now}
        update["$push"] = {"balance.applied": {"$each": [entry], "$slice": -remembered}}
    found: Document | None = db[COLLECTION].find_one_and_update(
        query,
        update,
        projection={"balance.amount": 1, "balance.unit": 1, "balance.currency": 1},
        return_document=ReturnDocument.AFTER,
    )
    return found


def pass_state(db: Database[Any], tenant_id: str, pass_id: str) -> Document | None:
    """Status, expirationDate, version and balance (applied references included) of a pass."""
    found: Document | None = db[COLLECTION].find_one(
        {"_id": pass_id, "tenant": tenant_id}, {**_STATE_FIELDS, "balance": 1}
    )
    return found


def revert_balance_delta(
    db: Database[Any], tenant_id: str, pass_id: str, *, delta: int, reference: str | None
) -> bool:
    """Undo an applied delta (and forget its reference): `$inc` commutes with any other."""
    query: Document = {"_id": pass_id, "tenant": tenant_id}
    update: Document = {"$inc": {"balance.amount": -delta, "version": 1}}
    if reference is not None:
        query["balance.applied.reference"] = reference
        update["$pull"] = {"balance.applied": {"reference": reference}}
    return db[COLLECTION].update_one(query, update).modified_count == 1


def due_for_expiry(
    db: Database[Any], tenant_ids: Iterable[str], now: datetime, *, limit: int
) -> list[Document]:
    """Active passes whose expirationDate has come (id, tenant and lifecycle fields), oldest
    first; the `status_expirationDate` index serves it."""
    cursor = db[COLLECTION].find(
        {
            "status": _ACTIVE_STATUS,
            "expirationDate": {"$lte": now},
            "tenant": {"$in": list(tenant_ids)},
        },
        {**_STATE_FIELDS, "tenant": 1},
        sort=[("expirationDate", 1)],
        limit=limit,
    )
    return list(cursor)


def expire(db: Database[Any], tenant_id: str, pass_id: str, now: datetime) -> Document | None:
    """Move a pass to `expired` if it is still active and its expirationDate has come; the
    pass's state as it now is, or None."""
    found: Document | None = db[COLLECTION].find_one_and_update(
        {
            "_id": pass_id,
            "tenant": tenant_id,
            "status": _ACTIVE_STATUS,
            "expirationDate": {"$lte": now},
        },
        {
            "$set": {"status": "expired", "statusChangedAt": now, "updatedAt": now},
            "$inc": {"version": 1},
        },
        projection=_STATE_FIELDS,
        return_document=ReturnDocument.AFTER,
    )
    return found


def find_by_barcode(db: Database[Any], tenant_id: str, message: str, *, limit: int) -> list[str]:
    """Ids of the tenant's passes whose rendered Apple pass shows this barcode message."""
    cursor = (
        db[COLLECTION]
        .find({"apple.barcodeMessages": message, "tenant": tenant_id}, {"_id": 1})
        .limit(limit)
    )
    return [str(document["_id"]) for document in cursor]
