"""A campaign's Google message decision on its operation (`googleMessage`): how the message
reaches Google (one class addMessage, or one per object) and, for a class message, where its
one send stands (shared/campaigns/class_messages.py).

The decision is written once (the first writer wins); the send moves owed → sending (a lease,
so a job that died mid-send is taken over) → sent or failed, each step a compare-and-set."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from shared.repositories import operations

Document = dict[str, Any]
FIELD = "googleMessage"
OWED, SENDING, SENT, FAILED = "owed", "sending", "sent", "failed"


def record_decision(
    db: Database[Any], correlation_id: str, decision: Mapping[str, Any]
) -> Document | None:
    """Store `decision` unless one is stored already; the decision that holds (or None when
    the operation is gone)."""
    db[operations.COLLECTION].update_one(
        {"_id": correlation_id, FIELD: {"$exists": False}}, {"$set": {FIELD: dict(decision)}}
    )
    found = db[operations.COLLECTION].find_one({"_id": correlation_id}, {FIELD: 1})
    return None if found is None else found.get(FIELD)


def unsettled(db: Database[Any], correlation_id: str) -> Document | None:
    """The campaign (what a send needs of it) while its class message is owed or being sent;
    None once it is sent or failed, or when the campaign goes per object."""
    found: Document | None = db[operations.COLLECTION].find_one(
        {"_id": correlation_id, f"{FIELD}.by": "class", f"{FIELD}.state": {"$in": [OWED, SENDING]}},
        {FIELD: 1, "tenant": 1, "kind": 1, "message": 1},
    )
    return found


def claim(
    db: Database[Any], correlation_id: str, *, owner: str, until: datetime, now: datetime
) -> Document | None:
    """Take the class message to send it: owed, left `sending` by a job whose lease ran out,
    or by `owner` itself (the same job delivered again after its worker died). The record as
    it was before (its `state` tells a takeover), or None: sent, failed, or being sent by
    another live job."""
    before: Document | None = db[operations.COLLECTION].find_one_and_update(
        {
            "_id": correlation_id,
            f"{FIELD}.by": "class",
            "$or": [
                {f"{FIELD}.state": OWED},
                {f"{FIELD}.state": SENDING, f"{FIELD}.leaseUntil": {"$lt": now}},
                {f"{FIELD}.state": SENDING, f"{FIELD}.owner": owner},
            ],
        },
        {
            "$set": {
                f"{FIELD}.state": SENDING,
                f"{FIELD}.owner": owner,
                f"{FIELD}.leaseUntil": until,
            }
        },
        projection={FIELD: 1},
        return_document=ReturnDocument.BEFORE,
    )
    return None if before is None else before.get(FIELD)


def settle(
    db: Database[Any],
    correlation_id: str,
    *,
    owner: str,
    state: str,
    changes: Mapping[str, Any],
) -> bool:
    """End the send `owner` claimed: `state` (sent or failed) with `changes`; False when the
    claim was lost meanwhile."""
    fields = {f"{FIELD}.{name}": value for name, value in changes.items()}
    result = db[operations.COLLECTION].update_one(
        {"_id": correlation_id, f"{FIELD}.state": SENDING, f"{FIELD}.owner": owner},
        {"$set": {f"{FIELD}.state": state, **fields}},
    )
    return result.modified_count == 1
