"""Which `certificate.expiring` warnings have fired (`certificate_alerts` collection), so a
restart or a second beat never fires one twice.

One document per (tenant, certificate fingerprint, threshold): `_id`
`<tenantId>:<sha256>:<days>`. A rotated certificate has another fingerprint, so its own
warnings fire when its time comes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

COLLECTION = "certificate_alerts"


def alert_id(tenant_id: str, fingerprint: str, threshold: int) -> str:
    return f"{tenant_id}:{fingerprint}:{threshold}"


def has_fired(db: Database[Any], tenant_id: str, fingerprint: str, threshold: int) -> bool:
    found = db[COLLECTION].find_one(
        {"_id": alert_id(tenant_id, fingerprint, threshold)}, {"_id": 1}
    )
    return found is not None


def record_fired(
    db: Database[Any],
    *,
    tenant_id: str,
    fingerprint: str,
    threshold: int,
    pass_type_identifier: str,
    kind: str,
    not_after: datetime,
    event_id: str | None,
    now: datetime,
) -> bool:
    """Record a fired warning; False when it was already recorded (another run got there)."""
    try:
        db[COLLECTION].insert_one(
            {
                "_id": alert_id(tenant_id, fingerprint, threshold),
                "tenant": tenant_id,
                "passTypeIdentifier": pass_type_identifier,
                "kind": kind,
                "notAfter": not_after,
                "thresholdDays": threshold,
                "eventId": event_id,
                "firedAt": now,
            }
        )
    except DuplicateKeyError:
        return False
    return True
