"""Nonces of Google Wallet callbacks already handled (`google_callbacks` collection).

Google retries callbacks and may deliver one more than once; the nonce it signs into each
message makes the second delivery recognisable. Kept for `RETENTION_S`, far longer than
Google's retries last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

COLLECTION = "google_callbacks"
RETENTION_S = 30 * 24 * 3600


def claim_nonce(
    db: Database[Any], *, tenant_id: str, nonce: str, event_type: str, object_id: str, now: datetime
) -> bool:
    """Record a callback's nonce; False when it was seen before (a repeated delivery)."""
    try:
        db[COLLECTION].insert_one(
            {
                "_id": f"{tenant_id}:{nonce}",
                "tenant": tenant_id,
                "eventType": event_type,
                "objectId": object_id,
                "receivedAt": now,
            }
        )
    except DuplicateKeyError:
        return False
    return True


def release_nonce(db: Database[Any], *, tenant_id: str, nonce: str) -> None:
    """Handling failed after the claim: let Google's retry be handled."""
    db[COLLECTION].delete_one({"_id": f"{tenant_id}:{nonce}"})
