"""Applying one import row: find its pass, then update it as `PATCH /passes/{id}` does (the
same merge, render, version-guarded write and delivery: shared/passes/updating.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from shared.apple.issuing import AppleRenderFailed
from shared.imports.cells import RowRejected, row_update
from shared.imports.columns import CONSENT, Columns
from shared.infra.clock import utcnow
from shared.notifications import consent
from shared.passes.google_versions import GoogleRenderFailed
from shared.passes.jobs import ExternalDataFailed, JobContext, UnknownPassType
from shared.passes.updating import apply_patch, deliver_pass
from shared.repositories import passes as passes_repo
from shared.webhooks.config import PASS_UPDATED

SUCCEEDED: Final = "succeeded"
UNCHANGED: Final = "unchanged"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
PENDING: Final = "pending"  # only in a download: the row's batch has not run yet

_MAX_CONFLICTS: Final = 5
_RENDER_ERRORS: Final = (AppleRenderFailed, GoogleRenderFailed, UnknownPassType, ExternalDataFailed)


@dataclass(frozen=True)
class RowResult:
    row: int
    status: str
    pass_id: str | None = None
    error: str | None = None
    delivery: dict[str, int] = field(default_factory=dict)
    push_tag: int | None = None  # the Apple update tag pushed, whose pending flag to clear
    google_synced: tuple[str, str] | None = None  # (pass id, hash) Google acknowledged

    def as_document(self) -> dict[str, Any]:
        document = {"row": self.row, "passId": self.pass_id, "status": self.status}
        # What delivery owes clearing once counted, stored so a re-run after a crash can.
        return document | {
            "error": self.error,
            "pushTag": self.push_tag,
            "googleHash": self.google_synced[1] if self.google_synced else None,
        }


@dataclass(frozen=True)
class ImportJob:
    """What every row of one import is applied with."""

    context: JobContext
    correlation_id: str
    tenant_id: str
    columns: Columns
    # Apple versions this batch pushed (pass id → update tag). Their pending flags are cleared
    # once the batch is counted, so a later row naming the same pass must not push again.
    pushed: dict[str, int] = field(default_factory=dict)
    # Likewise the Google objects it sent (pass id → content hash), stored once counted.
    sent_to_google: dict[str, str] = field(default_factory=dict)


def apply_row(job: ImportJob, row: int, cells: Sequence[str]) -> RowResult:
    try:
        update = row_update(job.columns, cells)
    except RowRejected as exc:
        return RowResult(row, FAILED, error=str(exc))
    named = ", ".join(column.name for column in job.columns.lookup if cells[column.index])
    matches = passes_repo.find_pass_ids(job.context.db, job.tenant_id, update.lookup, limit=2)
    if not matches:
        return RowResult(row, FAILED, error=f"no pass matches {named}")
    if len(matches) > 1:
        reason = f"several passes match {named}; name one by its id or a unique identifier"
        return RowResult(row, FAILED, error=reason)
    patch = dict(update.patch)
    given = patch.pop(CONSENT, None)
    if given is not None:
        _record_consent(job, row, matches[0], given)
    return _update(job, row, matches[0], patch)


def _record_consent(job: ImportJob, row: int, pass_id: str, given: dict[str, Any]) -> None:
    """The row's consent, at once and audited; the import (its correlation id) is who."""
    now = utcnow()
    granted = given["marketing"]["granted"]
    stored = {"marketing": consent.marketing_consent(granted, at=now, source="import", now=now)}
    consent.change(
        job.context.db,
        tenant_id=job.tenant_id,
        pass_id=pass_id,
        stored=stored,
        who=f"import:{job.correlation_id}",
        via=consent.VIA_IMPORT,
        now=now,
        key=f"{job.correlation_id}:{row}",  # a batch run again records its rows once
    )


def _update(job: ImportJob, row: int, pass_id: str, patch: dict[str, Any]) -> RowResult:
    """Merge, render, store (read again when another writer got there first) and deliver."""
    context = job.context
    for _ in range(_MAX_CONFLICTS):
        document = passes_repo.find_pass(context.db, job.tenant_id, pass_id)
        if document is None:
            return RowResult(row, FAILED, pass_id, "the pass no longer exists")
        try:
            outcome = apply_patch(context, document, patch)
        except _RENDER_ERRORS as exc:
            return RowResult(row, FAILED, pass_id, str(exc))
        if outcome is not None:
            break
    else:
        return RowResult(row, FAILED, pass_id, "the pass kept changing; try again")
    stored, changed = outcome
    tag = stored["apple"]["updateTag"] if stored.get("applePushPending") else None
    if tag is not None and job.pushed.get(pass_id) == tag:
        stored, tag = {**stored, "applePushPending": False}, None
    google = stored.get("google")
    if google and job.sent_to_google.get(pass_id) == google["contentHash"]:
        stored = {**stored, "google": {**google, "syncedHash": google["contentHash"]}}
    synced: list[tuple[str, str]] = []
    delivered = deliver_pass(context, stored, synced=synced)
    if tag is not None:
        job.pushed[pass_id] = tag
    job.sent_to_google.update(synced)
    changed = changed or delivered.owed
    if changed:
        data = {"passId": pass_id, "passType": stored["passType"]}
        context.emit(job.tenant_id, PASS_UPDATED, data, correlation_id=job.correlation_id)
    return RowResult(
        row,
        SUCCEEDED if changed else UNCHANGED,
        pass_id,
        delivery=delivered.counters,
        push_tag=tag,
        google_synced=synced[0] if synced else None,
    )
