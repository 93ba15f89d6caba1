"""Alerts held back by quiet hours (`deferred_alerts` collection), sent when due.

One document per (campaign, pass): `_id` `<correlationId>:<passId>`, so a batch delivered
twice defers once. `pending` until a sender claims it (a lease, so a sender that dies leaves
it to the next one), then `sent`. Sent documents are kept a while for the operation's record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import BulkWriteError
from pymongo.operations import InsertOne

Document = dict[str, Any]
COLLECTION = "deferred_alerts"
OPERATIONS = "operations"
PENDING, SENT = "pending", "sent"
RETENTION_S = 30 * 24 * 3600


def alert_id(correlation_id: str, pass_id: str) -> str:
    return f"{correlation_id}:{pass_id}"


def defer(db: Database[Any], documents: list[Document]) -> None:
    """Store the deferred alerts; ones already stored (a redelivered batch) stay as they are."""
    if not documents:
        return
    try:
        db[COLLECTION].bulk_write([InsertOne(d) for d in documents], ordered=False)
    except BulkWriteError as exc:
        if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
            raise


def claim_due(db: Database[Any], *, now: datetime, lease_s: float) -> Document | None:
    """One pending alert due by `now` whose lease ran out, leased to the caller."""
    claimed: Document | None = db[COLLECTION].find_one_and_update(
        {"status": PENDING, "dueAt": {"$lte": now}, "leaseUntil": {"$lte": now}},
        {"$set": {"leaseUntil": now + timedelta(seconds=lease_s)}, "$inc": {"attempts": 1}},
        sort=[("dueAt", 1)],
        return_document=ReturnDocument.AFTER,
    )
    return claimed


def mark_sent(db: Database[Any], alert: Mapping[str, Any], *, now: datetime) -> bool:
    """Done; False when it was done already (then its counts are not added twice)."""
    result = db[COLLECTION].update_one(
        {"_id": alert["_id"], "status": PENDING}, {"$set": {"status": SENT, "sentAt": now}}
    )
    return result.modified_count == 1


def mark_step(db: Database[Any], alert_id: str, step: str) -> None:
    """One wallet's part is done: a sender taking the alert over skips it."""
    db[COLLECTION].update_one({"_id": alert_id}, {"$set": {step: True}})


def note_earliest(db: Database[Any], correlation_id: str, due: datetime) -> None:
    """The campaign's next alert is due by `due` at the latest."""
    db[OPERATIONS].update_one({"_id": correlation_id}, {"$min": {"nextAt": due}})


def note_on_operation(
    db: Database[Any], correlation_id: str, *, counts: Mapping[str, int], now: datetime
) -> None:
    """Add a sent alert's `counts` (dotted counter names) to its campaign, and say when the
    campaign's next alert is due (no `nextAt` once none waits)."""
    pending = db[COLLECTION].find_one(
        {"correlationId": correlation_id, "status": PENDING}, sort=[("dueAt", 1)]
    )
    update: Document = {"$set": {"updatedAt": now}}
    if pending is None:
        update["$unset"] = {"nextAt": ""}
    else:
        update["$set"]["nextAt"] = pending["dueAt"]
    increments = {f"counters.{name}": value for name, value in counts.items() if value}
    if increments:
        update["$inc"] = increments
    db[OPERATIONS].update_one({"_id": correlation_id}, update)
