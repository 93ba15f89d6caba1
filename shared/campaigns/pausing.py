"""Pausing and resuming a campaign (`POST …/operations/{correlationId}/pause` and `/resume`).

A pause is a status: running → `paused`. Each batch reads the status between passes (the same
watch that sees a cancellation, batches.CancelWatch) and, paused, stops before its next pass:
the passes before it are finished as usual (written, pushed, counted) and the ones after it are
parked on the operation under a batch id of their own (`<batch id>+<index>`), in the same
atomic write that records the batch, so of two deliveries of a batch only the one whose record
counted parks anything. A batch that starts while the campaign is paused parks all its passes.
A resume (or cancel) that lands between a batch reading `paused` and writing its record finds
nothing parked yet; the batch then sees the campaign no longer paused and sends its parked
passes itself (both take them atomically: one sends them).
The walk of the segment stays where it stands (planning.advance does not move it while paused).

No job runs while paused, and the campaign watchdog (shared/campaigns/recovery.py) looks only
at active campaigns: a paused one's batches are never taken for stalled ones.

Resuming (paused → running) saves each parked batch among the campaign's batches (where the
watchdog finds it, should its message be lost) and sends it: each one, when it starts, walks
the segment on by a batch as every batch does, so the campaign continues where it stood. A
paused campaign cancelled is released the same way as `cancelling`: its parked batches count
their passes `cancelled`, and the planning job ends the walk, counting what was never reached.

Counters stay exact: every pass is counted once, by the batch that processed it or by the
batch that took over its parked remainder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import operations
from shared.campaigns import PUSH_UPDATE
from shared.infra.clock import utcnow
from shared.jobs import EnqueueError
from shared.repositories import campaign_waits
from shared.repositories import campaigns as campaigns_repo
from shared.repositories import operations as operations_repo

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

SendPlan = Callable[[str, str], None]  # (tenant id, correlation id)
SendBatch = Callable[[str, str, str, list[str]], None]  # (tenant, correlation id, batch, ids)
EnqueueBatch = Callable[[str, list[str]], None]  # (batch id, pass ids), for this campaign


class NotPausable(Exception):
    """The operation is not a campaign in a status this request applies to."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Parked:
    """A paused batch's passes from where it stopped, under the id of the batch that will
    take them over."""

    batch_id: str
    pass_ids: list[str]

    def as_fields(self) -> dict[str, Any]:
        """Written with the stopped batch's record (operations.record_results `also`)."""
        return campaign_waits.parking(self.batch_id, self.pass_ids)


def park(batch_id: str, index: int, pass_ids: Sequence[str]) -> Parked:
    """The passes of `batch_id` from `index` on, stopped by a pause before that pass."""
    return Parked(f"{batch_id}+{index}", list(pass_ids[index:]))


def release_if_resumed(
    db: Database[Any], correlation_id: str, parked: Parked, enqueue: EnqueueBatch | None
) -> None:
    """Called once a stopped batch's record (with what it parked) is written. A resume or a
    cancel that came in between took the parked batches before this one was there: then this
    job sends it itself. Of the two, the one whose take finds it sends it."""
    if enqueue is None or campaigns_repo.operation_status(db, correlation_id) == operations.PAUSED:
        return
    pass_ids = campaign_waits.take_one_parked(db, correlation_id, parked.batch_id)
    if pass_ids is not None:
        # Saved first, as every batch is: a lost message is the watchdog's to re-send.
        campaigns_repo.save_batch(db, correlation_id, parked.batch_id, pass_ids, now=utcnow())
        enqueue(parked.batch_id, pass_ids)


def request_pause(db: Database[Any], tenant_id: str, correlation_id: str) -> dict[str, Any]:
    """running → paused; a paused campaign answers as it is. Raises LookupError (unknown),
    NotPausable (not a campaign, or not running)."""
    operation = _campaign(db, tenant_id, correlation_id)
    now = utcnow()
    paused = operations_repo.transition(
        db,
        correlation_id,
        tenant_id=tenant_id,
        from_statuses=(operations.RUNNING,),
        changes={"status": operations.PAUSED, "pausedAt": now, "updatedAt": now},
    )
    if paused is not None:
        return paused
    current = operations_repo.find_operation(db, tenant_id, correlation_id) or operation
    if current["status"] == operations.PAUSED:
        return current
    raise NotPausable(current["status"], f"a {current['status']} campaign cannot be paused")


def request_resume(
    db: Database[Any],
    tenant_id: str,
    correlation_id: str,
    *,
    send_plan: SendPlan,
    send_batch: SendBatch,
) -> dict[str, Any]:
    """paused → running, its parked batches sent; a running campaign answers as it is.
    Raises LookupError, NotPausable."""
    operation = _campaign(db, tenant_id, correlation_id)
    if operation["status"] == operations.RUNNING:
        return operation
    now = utcnow()
    released = _release(
        db,
        operation,
        {"status": operations.RUNNING, "resumedAt": now, "updatedAt": now},
        send_plan=send_plan,
        send_batch=send_batch,
    )
    if released is not None:
        return released
    current = operations_repo.find_operation(db, tenant_id, correlation_id) or operation
    if current["status"] == operations.RUNNING:
        return current
    raise NotPausable(current["status"], f"a {current['status']} campaign cannot be resumed")


def cancel_paused(
    db: Database[Any],
    tenant_id: str,
    correlation_id: str,
    *,
    send_plan: SendPlan,
    send_batch: SendBatch,
) -> dict[str, Any] | None:
    """A paused campaign cancelled: paused → cancelling, its parked batches and its walk
    released to count what is left `cancelled`. None when it is not paused."""
    operation = operations_repo.find_operation(db, tenant_id, correlation_id)
    if operation is None or operation["status"] != operations.PAUSED:
        return None
    now = utcnow()
    changes = {"status": operations.CANCELLING, "cancelRequestedAt": now, "updatedAt": now}
    released = _release(
        db, operation, changes, send_plan=send_plan, send_batch=send_batch, walk_on=True
    )
    return released


def _release(
    db: Database[Any],
    operation: dict[str, Any],
    changes: dict[str, Any],
    *,
    send_plan: SendPlan,
    send_batch: SendBatch,
    walk_on: bool = False,
) -> dict[str, Any] | None:
    """Leave `paused` with `changes` and send the parked batches (saved first among the
    campaign's batches, so a lost message is the watchdog's to re-send, never lost)."""
    correlation_id, tenant_id = str(operation["_id"]), str(operation["tenant"])
    now = utcnow()
    saved = dict(operation.get(campaign_waits.PARKED) or {})
    for batch_id, pass_ids in saved.items():  # before the take: a crash after it loses none
        campaigns_repo.save_batch(db, correlation_id, batch_id, pass_ids, now=now)
    taken = campaign_waits.take_parked(
        db, tenant_id, correlation_id, from_status=operations.PAUSED, changes=changes
    )
    if taken is None:
        return None
    before, parked = taken
    for batch_id, pass_ids in parked.items():
        if batch_id not in saved:  # parked since the read above
            campaigns_repo.save_batch(db, correlation_id, batch_id, pass_ids, now=now)
    try:
        for batch_id, pass_ids in parked.items():
            send_batch(tenant_id, correlation_id, batch_id, pass_ids)
        # Paused before it was planned, or with no batch left to walk on from: the planning
        # job (safe to run again) plans it or walks on, or ends the walk once cancelling.
        if walk_on or before.get("plan") is None or not parked:
            send_plan(tenant_id, correlation_id)
    except EnqueueError as exc:
        # Saved: the watchdog re-sends them once the campaign shows no progress.
        log.warning("campaign %s released; its jobs wait for the watchdog: %s", correlation_id, exc)
    log.info(
        "campaign %s %s, %d parked batches sent", correlation_id, changes["status"], len(parked)
    )
    return operations_repo.load_operation(db, correlation_id)


def _campaign(db: Database[Any], tenant_id: str, correlation_id: str) -> dict[str, Any]:
    operation = operations_repo.find_operation(db, tenant_id, correlation_id)
    if operation is None:
        raise LookupError(correlation_id)
    if operation["kind"] != PUSH_UPDATE:
        raise NotPausable(operation["status"], "only campaigns (pushUpdate) can be paused")
    return operation
