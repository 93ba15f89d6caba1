"""The periodic certificate check (Celery beat): a `certificate.expiring` webhook event once per
threshold (30, 7, 1 days) for every Apple certificate near its end.

What has fired is recorded in MongoDB (shared/repositories/certificate_alerts.py), so a
restart, a second beat or a run delivered twice fires nothing new; the event id is derived
from the certificate and the threshold, so a run that dies between the event and the record
sends the same event again, never a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.apple.expiry import (
    PASS_TYPE_CERTIFICATE,
    CertificateExpiry,
    certificate_expiries,
    expiring,
)
from shared.jobs import EnqueueError
from shared.repositories import certificate_alerts
from shared.webhooks.config import CERTIFICATE_EXPIRING
from shared.webhooks.events import Queue, emit, enqueue_deliveries, new_event_id

if TYPE_CHECKING:
    from pymongo.database import Database

    from shared.tenancy.tenants import Tenant

log = logging.getLogger(__name__)


def event_data(item: CertificateExpiry, threshold: int, now: datetime) -> dict[str, Any]:
    return {
        "passTypeIdentifier": item.pass_type_identifier,
        "certificate": "passType" if item.kind == PASS_TYPE_CERTIFICATE else "wwdr",
        "notAfter": item.not_after.isoformat(),
        "daysLeft": int(item.days_left(now)),
        "thresholdDays": threshold,
        "fingerprintSha256": item.fingerprint,
    }


def fire_expiry_warnings(
    db: Database[Any], tenants: Iterable[Tenant], queue: Queue, *, now: datetime
) -> int:
    """Fire the warnings due and not yet fired; how many fired."""
    by_id = {tenant.id: tenant for tenant in tenants}
    fired = 0
    for item in expiring(certificate_expiries(by_id.values()), now):
        threshold = item.due_threshold(now)
        assert threshold is not None  # expiring() keeps only those
        if certificate_alerts.has_fired(db, item.tenant_id, item.fingerprint, threshold):
            continue
        tenant = by_id[item.tenant_id]
        key = f"{CERTIFICATE_EXPIRING}:{item.fingerprint}:{threshold}"
        delivery_ids = emit(
            db,
            tenant.id,
            tenant.webhooks,
            CERTIFICATE_EXPIRING,
            event_data(item, threshold, now),
            now=now,
            idempotency_key=key,
        )
        # The log line is the operator's warning too, webhook or not.
        log.warning("certificate expiring (%d-day warning): %s", threshold, item.describe(now))
        try:
            enqueue_deliveries(queue, tenant.id, delivery_ids)
        except EnqueueError as exc:  # the outbox keeps them: requeue_overdue sends them later
            log.warning("certificate.expiring deliveries left in the outbox: %s", exc)
        fired += certificate_alerts.record_fired(
            db,
            tenant_id=tenant.id,
            fingerprint=item.fingerprint,
            threshold=threshold,
            pass_type_identifier=item.pass_type_identifier,
            kind=item.kind,
            not_after=item.not_after,
            event_id=new_event_id(tenant.id, key) if delivery_ids else None,
            now=now,
        )
    return fired
