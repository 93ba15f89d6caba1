"""Deleting a pass (`DELETE /api/{tenantId}/passes/{passId}`): the `delete` job voids it in
both wallets (voiding.py), then removes it.

- Plain delete: the pass document goes, and with it the pass from the API, searches and
  campaigns; a tombstone without personal data stays for statistics (and for a later
  erasure to find). Devices registered for the pass were just pushed, but fetch its voided
  version only afterwards: a remnant holding that signed version and the token they
  authenticate with (repositories/deleted_passes.py) serves them until the last one
  unregisters, 30 days at most. Registrations stay with it; install clicks and webhook
  deliveries stay for the brand's reports (the deliveries expire as usual).
- Erase (`?erase=true`, operation kind `erase`): also every trace of the pass, its holder
  and its data, in every collection (repositories/erasure.py); other unfinished operations
  naming it fail, which drops their intents. What stays is a tombstone keyed by this
  operation, and this operation, whose intent goes when it ends. Devices then get 401 for
  the pass (Apple's answer for a serial they may not fetch): the holder keeps whichever
  version they fetched last, as Apple offers no way to take a pass off a phone.

When a wallet cannot be told (Google refuses, the pass no longer renders) the item fails
and the pass is kept, voided where that could be stored: deleting it again retries. Safe to
run twice: a redelivered job finishes what the first delivery started and counts once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import operations
from shared.infra.clock import utcnow
from shared.lifecycle import DELETE_KIND, ERASE_KIND
from shared.lifecycle.voiding import void_everywhere
from shared.passes.jobs import JobContext
from shared.repositories import deleted_passes, erasure, registrations, tombstones
from shared.repositories import deletion as repo
from shared.repositories.passes import COLLECTION as PASSES
from shared.stats import counting

log = logging.getLogger(__name__)

DELETE_BATCH = "delete"
_ERASED = "the pass was erased"


def deletion_intent(pass_id: str, *, erase: bool) -> dict[str, Any]:
    return {"passId": pass_id, "erase": erase}


def run_delete(context: JobContext, correlation_id: str) -> dict[str, Any] | None:
    """Void the operation's pass everywhere, then delete or erase it."""
    db = context.db
    operation, active = context.begin(correlation_id, "delete")
    if operation is None or not active:
        return operation
    if operation["status"] == operations.CANCELLING:
        return context.finished(
            operations.record_results(db, correlation_id, DELETE_BATCH, cancelled=1)
        )
    tenant_id, intent = operation["tenant"], operation["intent"]
    pass_id = intent["passId"]
    now = utcnow()
    voided = void_everywhere(context, tenant_id, pass_id, now)
    if voided.problem is not None:
        reason = f"{voided.problem}; the pass is kept (voided if that was stored): delete again"
        error = operations.ItemError(pass_id, reason)
        return context.finished(
            operations.record_results(
                db,
                correlation_id,
                DELETE_BATCH,
                failed=1,
                errors=(error,),
                delivery=voided.counters,
            )
        )
    job = _Deletion(context, tenant_id, pass_id, correlation_id, now)
    done = _erase(job, voided.document) if intent.get("erase") else _remove(job, voided.document)
    return context.finished(
        operations.record_results(
            db,
            correlation_id,
            DELETE_BATCH,
            succeeded=int(done),
            unchanged=int(not done),  # deleted (or erased) by another operation first
            delivery=voided.counters,
        )
    )


@dataclass(frozen=True)
class _Deletion:
    context: JobContext
    tenant_id: str
    pass_id: str
    correlation_id: str
    now: datetime


def _remove(job: _Deletion, document: dict[str, Any] | None) -> bool:
    """Delete the voided pass, keeping what its devices need; True when this operation
    deleted it (now, or in an earlier delivery of its job)."""
    db, tenant_id, pass_id = job.context.db, job.tenant_id, job.pass_id
    if document is not None:
        # The tombstone first: once the pass is gone, it tells a redelivered job who did it.
        tombstones.record_deletion(
            db,
            tenant_id=tenant_id,
            pass_id=pass_id,
            pass_type=document["passType"],
            created_at=document.get("createdAt"),
            deleted_at=job.now,
            correlation_id=job.correlation_id,
        )
        if document.get("apple") and registrations.count_for_pass(db, tenant_id, pass_id):
            deleted_passes.keep_remnant(db, document, now=job.now)
        removed = repo.remove_pass(db, tenant_id, pass_id)
        if removed is not None:
            counting.pass_removed(db, removed, job.now)
    tombstone = tombstones.find_deletion(db, tenant_id, pass_id)
    if tombstone is None or tombstone.get("deletedBy") != job.correlation_id:
        return False
    repo.release_self_service_claims(db, tenant_id, pass_id)
    return True


def _erase(job: _Deletion, document: dict[str, Any] | None) -> bool:
    """Erase the voided pass (or what a plain deletion kept of it) and every trace of it;
    True when this operation erased it (now, or in an earlier delivery of its job)."""
    db, tenant_id, pass_id = job.context.db, job.tenant_id, job.pass_id
    # What the anonymous tombstone keeps, read before the pass (or its tombstone) goes.
    origin = document or tombstones.find_deletion(db, tenant_id, pass_id)
    if origin is not None:
        tombstones.record_erasure(
            db,
            tenant_id=tenant_id,
            pass_type=str(origin["passType"]),
            created_at=origin.get("createdAt"),
            deleted_at=origin.get("deletedAt") or job.now,
            erased_at=job.now,
            correlation_id=job.correlation_id,
        )
    # Their intents may hold the pass's identifiers, metadata or an email address; failing
    # them drops it (deletions' intents hold only the id, and they end by themselves).
    for other in erasure.operations_naming(
        db,
        tenant_id,
        pass_id,
        statuses=operations.ACTIVE_STATUSES,
        kinds_besides=(DELETE_KIND, ERASE_KIND),
    ):
        operations.fail(db, other, _ERASED)
    erased = erasure.erase_traces(db, tenant_id, pass_id)
    if document is not None and erased.get(PASSES):
        counting.pass_removed(db, document, job.now)  # as voided: a later install, the sweep
    erasure.forget_in_operations(db, tenant_id, pass_id, ended=operations.FINAL_STATUSES)
    log.info("erased a pass: %s", {name: count for name, count in erased.items() if count})
    return origin is not None or tombstones.erasure_recorded(db, job.correlation_id)
