"""Accepting a read import: its rows and operation are stored, then its planning job is
queued. A step that fails takes back the rows, so a refused import leaves nothing to run."""

from __future__ import annotations

import logging

from api import services
from api.errors import ApiError
from shared import operations
from shared.imports import PLAN_TASK
from shared.imports.csv_file import ImportFile
from shared.imports.storing import forget_import, store_import
from shared.jobs import EnqueueError

log = logging.getLogger(__name__)


def accept_import(tenant_id: str, correlation_id: str, upload: ImportFile) -> None:
    db = services.database()
    try:
        store_import(db, tenant_id=tenant_id, correlation_id=correlation_id, upload=upload)
    except Exception:
        _forget(tenant_id, correlation_id)
        raise
    try:
        services.jobs().enqueue(PLAN_TASK, tenant_id=tenant_id, correlation_id=correlation_id)
    except EnqueueError as exc:
        log.error("%s (operation %s)", exc, correlation_id)
        operations.fail(db, correlation_id, "the job queue is unavailable")
        _forget(tenant_id, correlation_id)
        raise ApiError(503, "The job queue is unavailable; nothing was queued.") from exc


def _forget(tenant_id: str, correlation_id: str) -> None:
    try:
        forget_import(services.database(), tenant_id, correlation_id)
    except Exception:  # the database is what failed: the retention index removes them later
        log.warning("import rows of %s left to the retention index", correlation_id)
