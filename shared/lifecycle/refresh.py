"""Re-rendering a pass after a lifecycle change: an ordinary update job with an empty patch,
recorded as an operation of the change's kind (status, redeem, balance, expire). The job
finds the rendered pass changed, signs a new version and tells the pass's devices."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared import operations
from shared.infra.ids import new_correlation_id
from shared.jobs import UPDATE_PASS, EnqueueError

if TYPE_CHECKING:
    from pymongo.database import Database

REFRESH_TASK = UPDATE_PASS

# Sends REFRESH_TASK for (tenant id, correlation id, pass id); raises EnqueueError.
EnqueueRefresh = Callable[[str, str, str], None]


def refresh_intent(pass_id: str) -> dict[str, Any]:
    return {"passId": pass_id, "patch": {}}


def queue_refresh(
    db: Database[Any], enqueue: EnqueueRefresh, *, tenant_id: str, pass_id: str, kind: str
) -> str:
    """Record the operation, then send its job; its correlation id. Raises EnqueueError (the
    operation is then marked failed)."""
    correlation_id = new_correlation_id()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id=tenant_id,
            kind=kind,
            total=1,
            intent=refresh_intent(pass_id),
        ),
    )
    try:
        enqueue(tenant_id, correlation_id, pass_id)
    except EnqueueError:
        operations.fail(db, correlation_id, "the job queue is unavailable")
        raise
    return correlation_id
