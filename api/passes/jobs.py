"""Accepting a single-pass job: the operation (with its intent) is written first, so MongoDB
knows of every job the queue holds, then the job is enqueued and the caller gets 202."""

from __future__ import annotations

import logging
from typing import Any

from flask import url_for

from api import services
from api.errors import ApiError
from shared import operations
from shared.jobs import EnqueueError

log = logging.getLogger(__name__)


def accept(
    tenant_id: str,
    kind: str,
    *,
    task_name: str,
    correlation_id: str,
    pass_id: str,
    intent: dict[str, Any],
) -> Any:
    """Write the operation with its intent, enqueue its job, answer 202."""
    db = services.database()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id, tenant_id=tenant_id, kind=kind, total=1, intent=intent
        ),
    )
    try:
        services.jobs().enqueue(
            task_name, tenant_id=tenant_id, correlation_id=correlation_id, pass_id=pass_id
        )
    except EnqueueError as exc:
        log.error("%s (operation %s)", exc, correlation_id)
        operations.fail(db, correlation_id, "the job queue is unavailable")
        raise ApiError(503, "The job queue is unavailable; nothing was queued.") from exc
    location = url_for("operations.Operation", tenantId=tenant_id, correlationId=correlation_id)
    return {"correlationId": correlation_id, "passId": pass_id}, 202, {"Location": location}
