"""The periodic sweep (Celery beat, `passwire.lifecycle.expire_due`): active passes whose
expirationDate has come become `expired`, each by the same conditional write as any status
change, and each gets its refresh job, an operation of kind `expire` (so clients see it in
`GET /operations?kind=expire`).

A sweep handles at most SWEEP_LIMIT passes, oldest first; the rest wait for the next run.
Two sweeps running at once expire each pass once. When the job queue is down the pass goes
back to active and the sweep stops: the next run tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.jobs import EnqueueError
from shared.lifecycle import EXPIRE_KIND
from shared.lifecycle.refresh import EnqueueRefresh, queue_refresh
from shared.repositories import lifecycle as repo

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

SWEEP_LIMIT = 1000


def expire_due(
    db: Database[Any],
    tenant_ids: Iterable[str],
    enqueue: EnqueueRefresh,
    *,
    now: datetime,
    limit: int = SWEEP_LIMIT,
) -> int:
    """Expire the passes of `tenant_ids` that are due; how many were expired."""
    expired = 0
    for due in repo.due_for_expiry(db, tenant_ids, now, limit=limit):
        tenant_id, pass_id = str(due["tenant"]), str(due["_id"])
        after = repo.expire(db, tenant_id, pass_id, now)
        if after is None:
            continue  # changed since it was listed: not due any more, or another sweep's
        try:
            queue_refresh(db, enqueue, tenant_id=tenant_id, pass_id=pass_id, kind=EXPIRE_KIND)
        except EnqueueError:
            repo.restore_status(db, tenant_id, pass_id, version=int(after["version"]), previous=due)
            log.error("expiry sweep stopped: the job queue is unavailable")
            break
        expired += 1
    if expired:
        log.info("expired %d passes", expired)
    return expired
