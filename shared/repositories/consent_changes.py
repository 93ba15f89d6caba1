"""The audit trail of holders' consent (`consent_changes` collection): one document per change
of a pass's `consent` (who, when, via what, the consent as given), newest last. GDPR erase
deletes a pass's records with it (repositories/erasure.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
COLLECTION = "consent_changes"


def record(db: Database[Any], change: Mapping[str, Any]) -> None:
    """Store one change; a change already stored (same `_id`: a job delivered twice) stays."""
    with contextlib.suppress(DuplicateKeyError):
        db[COLLECTION].insert_one(dict(change))


def for_pass(db: Database[Any], tenant_id: str, pass_id: str) -> list[Document]:
    found = db[COLLECTION].find({"tenant": tenant_id, "passId": pass_id}).sort("recordedAt", 1)
    return list(found)


def set_consent(
    db: Database[Any], tenant_id: str, pass_id: str, consent: Mapping[str, Any]
) -> bool:
    """Set the pass's marketing consent; False when there is no such pass. The version is left
    alone: consent is not rendered, so a campaign writing the pass meanwhile is not retried."""
    result = db["passes"].update_one(
        {"_id": pass_id, "tenant": tenant_id},
        {"$set": {f"consent.{name}": value for name, value in consent.items()}},
    )
    return result.matched_count == 1
