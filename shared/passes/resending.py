"""The resend sweep (Celery beat, `passwire.lifecycle.resend_owed`): a pass whose Apple push or
Google object is still owed `owed_for` after its last change gets a refresh job (an ordinary
update with an empty patch, an operation of kind `resend`), which delivers what is owed.

Normally nothing is left owed: a job clears the flags once it has counted its deliveries, and
Celery delivers a job again when its worker dies. What remains is what slipped through: a job
lost with its queue, or Google refusing the object through every retry (it stays owed, and its
pass's next change would otherwise be the next try). `owed_for` should exceed the broker's
visibility timeout, so Celery's own redelivery goes first. A pass is tried at most once per
`owed_for`; a sweep takes at most SWEEP_LIMIT passes, the longest-owed first; two sweeps at
once resend each pass once. When the job queue is down, the sweep stops and the next run tries
again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.jobs import EnqueueError
from shared.lifecycle import RESEND_KIND
from shared.lifecycle.refresh import EnqueueRefresh, queue_refresh
from shared.repositories import owed_deliveries as repo

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

SWEEP_LIMIT = 500


def resend_owed(
    db: Database[Any],
    tenant_ids: Iterable[str],
    enqueue: EnqueueRefresh,
    *,
    now: datetime,
    owed_for: timedelta,
    limit: int = SWEEP_LIMIT,
) -> int:
    """Queue a refresh for each pass of `tenant_ids` owed longer than `owed_for`; how many."""
    queued, before = 0, now - owed_for
    for owed in repo.owed_before(db, tenant_ids, before=before, now=now, limit=limit):
        tenant_id, pass_id = str(owed["tenant"]), str(owed["_id"])
        if not repo.claim_resend(
            db, tenant_id, pass_id, before=before, now=now, retry_after=now + owed_for
        ):
            continue  # another sweep took it, or it changed meanwhile
        try:
            queue_refresh(db, enqueue, tenant_id=tenant_id, pass_id=pass_id, kind=RESEND_KIND)
        except EnqueueError:
            repo.release_resend(db, tenant_id, pass_id)
            log.error("resend sweep stopped: the job queue is unavailable")
            break
        queued += 1
    if queued:
        log.info("resending %d passes whose delivery was still owed", queued)
    return queued
