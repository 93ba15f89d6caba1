"""Operations: the lifecycle and counters of every job a caller follows by correlationId.

queued → running → completed | completed_with_errors | failed
queued | running → cancelling → cancelled     (a queued operation is cancelled at once)

Counters at every final status: succeeded + unchanged + failed + notReached = total, where
`notReached` (written once the operation ends `failed` or `cancelled`) counts the items no job
got to, and `cancelled` (among them) those a cancellation stopped. `processed` counts the items
with an outcome, cancelled ones included.

Campaigns also wait (docs/campaigns.md): `scheduled` → queued when scheduledAt comes (or
cancelled at once), and running ⇄ `paused` (a paused one is cancelled through cancelling).
No job works on a waiting operation, so the crash-recovery watchdog leaves it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.infra.clock import utcnow
from shared.repositories import operations as repo
from shared.stats import counting

if TYPE_CHECKING:
    from pymongo.database import Database

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
COMPLETED_WITH_ERRORS = "completed_with_errors"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
FAILED = "failed"
SCHEDULED = "scheduled"
PAUSED = "paused"

ACTIVE_STATUSES = (QUEUED, RUNNING, CANCELLING)
FINAL_STATUSES = (COMPLETED, COMPLETED_WITH_ERRORS, CANCELLED, FAILED)
# Not ended, but no job works on them until they are started or resumed.
WAITING_STATUSES = (SCHEDULED, PAUSED)
# A batch may still record into these (a paused campaign's batches park what they did not do).
RECORDING_STATUSES = (*ACTIVE_STATUSES, PAUSED)
COUNTER_NAMES = ("total", "processed", "succeeded", "failed", "unchanged", "cancelled")
APPLE_COUNTER_NAMES = ("pushed", "failed", "unregistered")
# Dropped in the same write that ends an operation: the intent may hold personal identifiers.
_DONE_WITH = ("intent",)


class OperationNotCancellable(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"operation is already {status}")
        self.status = status


@dataclass(frozen=True)
class ItemError:
    item_id: str
    reason: str

    def as_document(self) -> dict[str, str]:
        return {"id": self.item_id, "reason": self.reason}


def new_operation(
    *, correlation_id: str, tenant_id: str, kind: str, total: int, intent: dict[str, Any]
) -> dict[str, Any]:
    now = utcnow()
    counters: dict[str, Any] = dict.fromkeys(COUNTER_NAMES, 0)
    counters["total"] = total
    counters["apple"] = dict.fromkeys(APPLE_COUNTER_NAMES, 0)
    return {
        "_id": correlation_id,
        "tenant": tenant_id,
        "kind": kind,
        "status": QUEUED,
        "counters": counters,
        # What the worker needs to do the job, persisted before enqueueing; dropped once done.
        "intent": intent,
        "errors": [],
        "recordedBatches": [],
        "createdAt": now,
        "updatedAt": now,
        "startedAt": None,
        "finishedAt": None,
    }


def final_status(counters: dict[str, int]) -> str:
    # Cancelled only when a cancel actually stopped items: work that finished anyway counts.
    if counters.get("cancelled", 0) > 0:
        return CANCELLED
    if counters.get("failed", 0) == 0:
        return COMPLETED
    if counters.get("succeeded", 0) + counters.get("unchanged", 0) == 0:
        return FAILED
    return COMPLETED_WITH_ERRORS


def create(db: Database[Any], document: dict[str, Any]) -> None:
    repo.insert_operation(db, document)


def start(db: Database[Any], correlation_id: str) -> dict[str, Any] | None:
    """Mark a queued operation running; returns the current document whatever its status."""
    now = utcnow()
    started = repo.transition(
        db,
        correlation_id,
        from_statuses=(QUEUED,),
        changes={"status": RUNNING, "startedAt": now, "updatedAt": now},
    )
    return started or repo.load_operation(db, correlation_id)


def record_results(
    db: Database[Any],
    correlation_id: str,
    batch_id: str,
    *,
    succeeded: int = 0,
    failed: int = 0,
    unchanged: int = 0,
    cancelled: int = 0,
    delivery: Mapping[str, int] | None = None,
    errors: tuple[ItemError, ...] = (),
    only_active: bool = False,
    also: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Count one batch's results exactly once, then close the operation when all are counted.

    `succeeded`, `failed`, `unchanged` and `cancelled` count items; `delivery` adds dotted
    delivery counters such as `apple.pushed`. `only_active`: not once the operation ended (a
    late batch of a failed campaign must not move its final counters; a paused one's still
    count). `also` sets fields in the same write, only if the batch counts (a paused batch's
    parked passes: shared/campaigns/pausing.py).
    """
    now = utcnow()
    counts = {
        "processed": succeeded + failed + unchanged + cancelled,
        "succeeded": succeeded,
        "failed": failed,
        "unchanged": unchanged,
        "cancelled": cancelled,
        **(delivery or {}),
    }
    updated = repo.record_batch(
        db,
        correlation_id,
        batch_id,
        counts=counts,
        errors=[error.as_document() for error in errors],
        now=now,
        statuses=RECORDING_STATUSES if only_active else None,
        also=dict(also) if also else None,
    )
    if updated is not None:  # this batch counted now, once
        counting.notified(db, updated, delivery, now)
    current = updated or repo.load_operation(db, correlation_id)
    if current is not None:
        current = finish_if_done(db, current)
    return current


def not_reached(counters: Mapping[str, Any]) -> int:
    """Items without an outcome of their own: never reached, or stopped by a cancellation."""
    done = sum(int(counters.get(name, 0)) for name in ("succeeded", "unchanged", "failed"))
    return max(int(counters.get("total", 0)) - done, 0)


def finish_if_done(db: Database[Any], operation: dict[str, Any]) -> dict[str, Any]:
    counters = operation["counters"]
    if operation["status"] in FINAL_STATUSES or counters["processed"] < counters["total"]:
        return operation
    now = utcnow()
    status = final_status(counters)
    changes: dict[str, Any] = {"status": status, "finishedAt": now, "updatedAt": now}
    if status == CANCELLED:
        changes["counters.notReached"] = not_reached(counters)
    finished = repo.transition(
        db,
        operation["_id"],
        from_statuses=RECORDING_STATUSES,
        changes=changes,
        unset=_DONE_WITH,
    )
    if finished is None:
        return repo.load_operation(db, operation["_id"]) or operation
    return finished


def fail(db: Database[Any], correlation_id: str, reason: str) -> dict[str, Any] | None:
    """The job itself could not run (not one item): the operation ends `failed` with the
    reason, and the items no batch counted are `notReached`."""
    now = utcnow()
    failed = repo.transition(
        db,
        correlation_id,
        from_statuses=(*ACTIVE_STATUSES, *WAITING_STATUSES),
        changes={
            "status": FAILED,
            "finishedAt": now,
            "updatedAt": now,
            "failureReason": reason,
        },
        unset=_DONE_WITH,
    )
    if failed is None:
        return None
    # Counted after the status changed: batches record only while the operation is active
    # (campaigns), so these counters are final.
    return repo.transition(
        db,
        correlation_id,
        from_statuses=(FAILED,),
        changes={"counters.notReached": not_reached(failed["counters"])},
    )


def request_cancel(db: Database[Any], tenant_id: str, correlation_id: str) -> dict[str, Any]:
    """Cancel at once when nothing started yet, else ask the running job to stop.

    Raises LookupError for an unknown operation, OperationNotCancellable when it already ended.
    """
    now = utcnow()
    operation = repo.find_operation(db, tenant_id, correlation_id)
    if operation is None:
        raise LookupError(correlation_id)
    total = operation["counters"]["total"]
    cancelled_now = repo.transition(
        db,
        correlation_id,
        tenant_id=tenant_id,
        from_statuses=(QUEUED, SCHEDULED),
        changes={
            "status": CANCELLED,
            "counters.processed": total,
            "counters.cancelled": total,
            "counters.notReached": total,
            "cancelRequestedAt": now,
            "finishedAt": now,
            "updatedAt": now,
        },
        unset=_DONE_WITH,
    )
    if cancelled_now is not None:
        return cancelled_now
    cancelling = repo.transition(
        db,
        correlation_id,
        tenant_id=tenant_id,
        from_statuses=(RUNNING,),
        changes={"status": CANCELLING, "cancelRequestedAt": now, "updatedAt": now},
    )
    if cancelling is not None:
        return cancelling
    current = repo.find_operation(db, tenant_id, correlation_id) or operation
    if current["status"] == CANCELLING:
        return current
    raise OperationNotCancellable(current["status"])
