"""Planning an import: its batches were stored with the operation, so planning is enqueueing
one task per batch, in file order. Cancelled meanwhile, the planner counts each batch it did
not enqueue `cancelled` under that batch's own id, so a batch task already on its way and the
planner never count the same rows twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared import operations
from shared.imports.batches import cancel_batch
from shared.passes.jobs import JobContext
from shared.repositories import campaigns as campaigns_repo

log = logging.getLogger(__name__)

EnqueueBatch = Callable[[int], None]  # the batch index


def run_import_plan(
    context: JobContext, correlation_id: str, enqueue_batch: EnqueueBatch
) -> dict[str, Any] | None:
    """Enqueue the import's batches. Safe to run more than once: batches count once."""
    operation, active = context.begin(correlation_id, "import planning")
    if operation is None or not active:
        return operation
    count = int(operation["intent"]["batches"])
    for index in range(count):
        status = campaigns_repo.operation_status(context.db, correlation_id)
        if status == operations.CANCELLING:
            log.info("import cancelled while planning: batches %d to %d not run", index, count - 1)
            for remaining in range(index, count):
                operation = cancel_batch(context, correlation_id, remaining) or operation
            return operation
        if status != operations.RUNNING:
            return operation  # ended another way (failed): nothing more to run or count
        enqueue_batch(index)
    log.info("import planned: %d batches", count)
    return operation
