"""One import batch: apply its rows in file order, store one result per row, count the batch
once.

The results are stored before they are counted, and counted from what was stored: a batch
delivered twice, or run by the planner to cancel it while its task runs, ends with the same
results in the download as in the operation's counters. Cancellation is checked between
rows (campaigns' CancelWatch); rows not reached count `cancelled`.

External data providers with a batch form are called once per batch (per `max_ids` passes)
before the rows are applied; each row's render then reads its pass's record from that answer
(shared/providers/fetching.py), and an id the answer lacks fails that row only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from shared import operations
from shared.campaigns.batches import CancelWatch
from shared.imports.cells import RowRejected, row_update
from shared.imports.columns import Columns, read_header
from shared.imports.packing import cells_of
from shared.imports.rows import (
    CANCELLED,
    FAILED,
    SUCCEEDED,
    UNCHANGED,
    ImportJob,
    RowResult,
    apply_row,
)
from shared.infra.clock import utcnow
from shared.passes.jobs import JobContext
from shared.passes.merge_patch import merge_patch
from shared.repositories import campaigns as campaigns_repo
from shared.repositories import imports as repo
from shared.repositories import passes as passes_repo

log = logging.getLogger(__name__)

MAX_ERRORS_PER_BATCH = 20  # the operation keeps the first 100 errors; the download has all


def run_import_batch(context: JobContext, correlation_id: str, index: int) -> dict[str, Any] | None:
    """Apply batch `index` of the import and record it. Safe to run more than once."""
    operation = campaigns_repo.load_campaign(context.db, correlation_id)
    if operation is None or operation["status"] in operations.FINAL_STATUSES:
        return operation
    batch = repo.load_batch(context.db, correlation_id, index)
    if batch is None:
        log.error("import batch %d is missing", index)
        return operation
    if batch.get("results") is None:
        results = _apply_rows(context, operation, batch)
        batch = _store(context, correlation_id, index, results) or batch
    recorded = _record(context, correlation_id, index, batch)
    # From the stored results, so a re-run after a crash past _store clears them too.
    stored = [r for r in batch.get("results") or [] if r.get("passId")]
    # Cleared after counting: a crash in between pushes again (harmless), never loses one.
    campaigns_repo.clear_apple_push_pending(
        context.db,
        operation["tenant"],
        [(r["passId"], r["pushTag"]) for r in stored if r.get("pushTag") is not None],
    )
    # Likewise what Google acknowledged: a crash before this sends those objects again.
    passes_repo.mark_google_synced(
        context.db,
        operation["tenant"],
        [(r["passId"], r["googleHash"]) for r in stored if r.get("googleHash")],
    )
    return recorded


def cancel_batch(context: JobContext, correlation_id: str, index: int) -> dict[str, Any] | None:
    """Count every row of a batch that will not run `cancelled`, unless it ran already."""
    batch = repo.load_batch(context.db, correlation_id, index)
    if batch is None:
        return None
    if batch.get("results") is None:
        cancelled = [RowResult(row, CANCELLED) for row in batch["rows"]]
        batch = _store(context, correlation_id, index, cancelled) or batch
    return _record(context, correlation_id, index, batch)


def _apply_rows(
    context: JobContext, operation: Mapping[str, Any], batch: Mapping[str, Any]
) -> list[RowResult]:
    correlation_id, tenant_id = operation["_id"], operation["tenant"]
    columns = read_header(operation["intent"]["header"])
    context = _with_batch_answers(context, tenant_id, columns, batch)
    job = ImportJob(context, correlation_id, tenant_id, columns)
    watch = CancelWatch(
        lambda: campaigns_repo.operation_status(context.db, correlation_id),
        status=operation["status"],
    )
    results: list[RowResult] = []
    for row, cells in zip(batch["rows"], cells_of(batch["text"]), strict=True):
        if watch.stop():
            results.append(RowResult(row, CANCELLED))
        else:
            results.append(apply_row(job, row, cells))
    return results


def _with_batch_answers(
    context: JobContext, tenant_id: str, columns: Columns, batch: Mapping[str, Any]
) -> JobContext:
    """`context` with the records of the tenant's batch-form providers for the passes the
    batch's rows name, as the rows will leave them (their identifiers patched), fetched in
    one request per `max_ids` passes. Rows are matched to passes as `apply_row` does; a pass
    that changes identifiers meanwhile is simply fetched on its own when its row runs."""
    tenant = context.tenants.get(tenant_id)
    if tenant is None:
        return context
    needed = {name: pass_type.declared.external for name, pass_type in tenant.pass_types.items()}
    if not any(
        provider.batch is not None and provider.fields.keys() & names
        for provider in tenant.providers
        for names in needed.values()
    ):
        return context  # no template reads a batch-form provider: nothing to look up first
    patches: dict[str, Mapping[str, Any]] = {}
    for cells in cells_of(batch["text"]):
        try:
            update = row_update(columns, cells)
        except RowRejected:
            continue  # the row fails when applied, with its reason
        matches = passes_repo.find_pass_ids(context.db, tenant_id, update.lookup, limit=2)
        if len(matches) == 1:
            patches[matches[0]] = update.patch
    documents = campaigns_repo.load_passes(
        context.db, tenant_id, list(patches), without=("apple", "google")
    )
    views = [
        {
            "_id": pass_id,
            "passType": patches[pass_id].get("passType") or document["passType"],
            "identifiers": _patched_identifiers(document, patches[pass_id]),
        }
        for pass_id, document in documents.items()
    ]
    answers = context.external.fetch_batched(tenant.providers, views, needed_by_pass_type=needed)
    return dataclasses.replace(context, external=context.external.with_answers(answers))


def _patched_identifiers(document: Mapping[str, Any], patch: Mapping[str, Any]) -> Any:
    identifiers = document.get("identifiers") or {}
    return merge_patch(identifiers, patch["identifiers"]) if "identifiers" in patch else identifiers


def _store(
    context: JobContext, correlation_id: str, index: int, results: Sequence[RowResult]
) -> dict[str, Any] | None:
    delivery: dict[str, int] = {}
    for result in results:
        for name, value in result.delivery.items():
            delivery[name] = delivery.get(name, 0) + value
    return repo.store_results(
        context.db,
        correlation_id,
        index,
        results=[result.as_document() for result in results],
        delivery=delivery,
        now=utcnow(),
    )


def _record(
    context: JobContext, correlation_id: str, index: int, batch: Mapping[str, Any]
) -> dict[str, Any] | None:
    stored = batch.get("results") or []
    counts = {status: 0 for status in (SUCCEEDED, UNCHANGED, FAILED, CANCELLED)}
    for result in stored:
        counts[result["status"]] += 1
    errors = tuple(
        operations.ItemError(f"row {result['row']}", result["error"])
        for result in stored
        if result["status"] == FAILED
    )[:MAX_ERRORS_PER_BATCH]
    return context.finished(
        operations.record_results(
            context.db,
            correlation_id,
            repo.batch_id(correlation_id, index),
            succeeded=counts[SUCCEEDED],
            unchanged=counts[UNCHANGED],
            failed=counts[FAILED],
            cancelled=counts[CANCELLED],
            delivery=batch.get("delivery") or {},
            errors=errors,
        )
    )
