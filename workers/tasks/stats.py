"""The statistics reconcile sweep, sent by Celery beat every
PASSWIRE_STATS_RECONCILE_INTERVAL_S seconds (on the `bulk` queue by its
`passwire.lifecycle.` prefix)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from config.celery import RECONCILE_STATS
from shared.infra.clock import utcnow
from shared.stats.reconcile import reconcile
from workers.base import PasswireTask
from workers.runtime import database, tenants


@shared_task(name=RECONCILE_STATS, base=PasswireTask, bind=True)
def reconcile_stats(self: PasswireTask) -> dict[str, Any]:
    """Compare every tenant's counters with its passes; log, record and repair drift."""
    return reconcile(database(), tenants().tenants.keys(), now=utcnow()).as_dict()
