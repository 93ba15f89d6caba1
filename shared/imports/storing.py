"""Storing a read import before its job is queued: its batches of rows first, then its
operation (so an operation never exists without its rows), with what the job needs in the
intent: the header and how many batches there are."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import operations
from shared.imports import IMPORT
from shared.imports.csv_file import ImportFile
from shared.imports.packing import ROWS_PER_BATCH, pack
from shared.infra.clock import utcnow
from shared.repositories import imports as repo

if TYPE_CHECKING:
    from pymongo.database import Database


def store_import(
    db: Database[Any],
    *,
    tenant_id: str,
    correlation_id: str,
    upload: ImportFile,
    rows_per_batch: int = ROWS_PER_BATCH,
) -> None:
    """Raises what the database raises; `forget_import` then takes back what was stored."""
    batches = pack(upload.rows, rows_per_batch=rows_per_batch)
    repo.insert_batches(
        db,
        tenant_id=tenant_id,
        correlation_id=correlation_id,
        batches=[(batch.index, batch.rows, batch.text) for batch in batches],
        now=utcnow(),
    )
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id=tenant_id,
            kind=IMPORT,
            total=len(upload.rows),
            intent={"header": list(upload.header), "batches": len(batches)},
        ),
    )


def forget_import(db: Database[Any], tenant_id: str, correlation_id: str) -> None:
    """Drop the rows of an import that will not run (its operation, if any, stays: failed)."""
    repo.delete_batches(db, tenant_id, correlation_id)
