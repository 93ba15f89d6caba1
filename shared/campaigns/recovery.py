"""The campaign watchdog: finish every campaign from what MongoDB knows, whatever happened to
its messages (a worker's main process killed, Redis restarted without them, a job that gave up
during an outage).

Redis carries messages; MongoDB holds the truth: the operation's walk of the segment (`plan`),
the batches it counted (`recordedBatches`), and each enqueued batch with its pass ids and the
lease of the job running it (`campaign_batches`). A campaign that made no progress for
`stall` (no batch recorded, no lease taken or renewed, no recovery) is taken by one watchdog
run, which then:

- re-sends the planning job of a campaign never planned;
- re-sends each batch neither recorded nor leased (a late original is harmless: batches
  count once by id, write under a version guard, and a recorded one does nothing);
- walks on when fewer than a window of batches are left (the walk's next batch was lost);
- settles and closes a campaign whose batches are all counted.

A stalled `cancelling` campaign is completed here, without a message: its lost batches are
run in this process (a cancelled batch writes nothing: it pushes the passes an earlier run
wrote, and counts the rest `cancelled`), the passes never enqueued are counted `cancelled`,
and it ends `cancelled`.

A preview (kind `preview`) is walked and batched by the same planning, so the same watchdog
finishes it: its batches take no lease (a copy run twice records its figures once), so after a
stall every batch not recorded is re-sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import operations
from shared.campaigns import PREVIEW, PUSH_UPDATE
from shared.campaigns.batches import run_batch
from shared.campaigns.planning import EnqueueBatch, advance, run_plan
from shared.infra.clock import utcnow
from shared.infra.transient import TRANSIENT_ERRORS
from shared.passes.jobs import JobContext
from shared.repositories import campaigns as repo

log = logging.getLogger(__name__)

# The operations walked by the campaign planning: campaigns and their previews.
RECOVERED_KINDS = (PUSH_UPDATE, PREVIEW)

SendPlan = Callable[[str, str], None]  # (tenant id, correlation id)
SendBatch = Callable[[str, str, str, list[str]], None]  # (tenant, correlation id, batch, ids)


@dataclass
class Recovery:
    """What one watchdog run did for one stalled campaign (logged, and read by the tests)."""

    correlation_id: str
    status: str
    replanned: bool = False
    resent: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    walked_on: bool = False


def recover_stalled(
    context: JobContext,
    *,
    stall: timedelta,
    send_plan: SendPlan,
    send_batch: SendBatch,
    now: datetime | None = None,
    window: int | None = None,
    size: int | None = None,
) -> list[Recovery]:
    """Recover every campaign stalled for longer than `stall`; one watchdog at a time per
    campaign (the claim), once per `stall` at most."""
    now = now or utcnow()
    cutoff = now - stall
    done = []
    stalled = [
        operation
        for kind in RECOVERED_KINDS
        for operation in repo.stalled_operations(
            context.db, kind=kind, statuses=operations.ACTIVE_STATUSES, cutoff=cutoff
        )
    ]
    for operation in stalled:
        if not repo.claim_recovery(context.db, operation["_id"], cutoff=cutoff, now=now):
            continue
        walk = (window or context.settings.campaign_window, size)
        try:
            recovery = _recover(context, operation, now, send_plan, send_batch, walk)
        except TRANSIENT_ERRORS:
            raise  # retried whole (idempotent); this campaign again after one more bound
        except Exception:
            # One campaign the watchdog cannot handle must not stop it for the others.
            log.exception("campaign %s: recovery failed", operation["_id"])
            continue
        log.warning("campaign %s made no progress since %s: %s", operation["_id"], cutoff, recovery)
        done.append(recovery)
    return done


def _recover(  # noqa: PLR0917 - the watchdog's whole input, named
    context: JobContext,
    operation: dict[str, Any],
    now: datetime,
    send_plan: SendPlan,
    send_batch: SendBatch,
    walk: tuple[int, int | None],  # the window, and the batch size (None: the setting)
) -> Recovery:
    correlation_id, tenant_id = operation["_id"], operation["tenant"]
    status = operation["status"]
    recovery = Recovery(correlation_id, status)
    plan = operation.get("plan")
    if plan is None:
        if status == operations.CANCELLING:
            # Planned here: the walk stops at once and counts every pass cancelled.
            run_plan(context, correlation_id, _no_batches)
        else:
            send_plan(tenant_id, correlation_id)
        recovery.replanned = True
        return recovery
    recorded = repo.recorded_batches(context.db, correlation_id)
    outstanding = [
        b for b in repo.batches(context.db, correlation_id) if b["batch"] not in recorded
    ]
    lost = [b for b in outstanding if not _leased(b, now)]
    if status == operations.CANCELLING:
        for batch in lost:
            run_batch(context, correlation_id, batch["batch"], list(batch["passIds"]))
            recovery.cancelled.append(batch["batch"])
        if not plan["done"]:
            advance(context, correlation_id, _no_batches)  # stops the walk: the rest cancelled
            recovery.walked_on = True
        return recovery
    for batch in lost:
        send_batch(tenant_id, correlation_id, batch["batch"], list(batch["passIds"]))
        recovery.resent.append(batch["batch"])
    window, size = walk
    if not plan["done"] and len(outstanding) < window:
        enqueue = _enqueuer(tenant_id, correlation_id, send_batch)
        advance(context, correlation_id, enqueue, size=size, steps=window - len(outstanding))
        recovery.walked_on = True
    elif plan["done"] and not outstanding:
        _settle(context, correlation_id, int(plan["walked"]), now)
    return recovery


def _leased(batch: dict[str, Any], now: datetime) -> bool:
    until = batch.get("leasedUntil")
    return until is not None and until > now


def _settle(context: JobContext, correlation_id: str, walked: int, now: datetime) -> None:
    """Every batch counted, yet the campaign still runs: the job that walked to the end died
    before it settled the total or closed the operation."""
    settled = repo.settle_total(
        context.db, correlation_id, walked=walked, active=(operations.RUNNING,), now=now
    )
    if settled is not None:
        context.finished(operations.finish_if_done(context.db, settled))
    _forget_if_ended(context, correlation_id)


def _forget_if_ended(context: JobContext, correlation_id: str) -> None:
    status = repo.operation_status(context.db, correlation_id)
    if status in operations.FINAL_STATUSES:
        repo.drop_batches(context.db, correlation_id)


def _enqueuer(tenant_id: str, correlation_id: str, send_batch: SendBatch) -> EnqueueBatch:
    def enqueue(batch_id: str, pass_ids: list[str]) -> None:
        send_batch(tenant_id, correlation_id, batch_id, pass_ids)

    return enqueue


def _no_batches(batch_id: str, pass_ids: list[str]) -> None:
    raise AssertionError("a cancelled campaign's walk enqueues nothing")
