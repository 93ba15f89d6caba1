"""A holder's marketing consent: `consent.marketing = {granted, at, source}` on the pass.

Every change also leaves an audit record (repositories/consent_changes.py): who changed it
(the credential), when, from where (`via`: create, patch, consent, import) and the consent
as given. GDPR erase removes the records with the pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.repositories import consent_changes

if TYPE_CHECKING:
    from pymongo.database import Database

FIELD = "consent"
MARKETING = "marketing"
SOURCE_MAX = 64
DEFAULT_SOURCE = "api"
# Where a change came in.
VIA_CREATE, VIA_PATCH, VIA_ENDPOINT, VIA_IMPORT = "create", "patch", "consent", "import"


def marketing_granted(document: Mapping[str, Any]) -> bool:
    """Only an explicit grant counts: refused and never asked are alike (opt-in)."""
    marketing = (document.get(FIELD) or {}).get(MARKETING) or {}
    return marketing.get("granted") is True


def marketing_consent(
    granted: bool, *, at: datetime | None, source: str | None, now: datetime
) -> dict[str, Any]:
    """The stored form of a consent as a caller gave it (`at` defaults to now)."""
    return {"granted": granted, "at": at or now, "source": source or DEFAULT_SOURCE}


def audit_record(
    *,
    tenant_id: str,
    pass_id: str,
    consent: Mapping[str, Any],
    who: str,
    via: str,
    now: datetime,
    key: str,
) -> dict[str, Any]:
    """One change of the pass's consent; `key` makes a job delivered twice record it once."""
    return {
        "_id": f"{tenant_id}:{pass_id}:{key}",
        "tenant": tenant_id,
        "passId": pass_id,
        "marketing": dict(consent[MARKETING]),
        "who": who,
        "via": via,
        "recordedAt": now,
    }


def given(body: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The stored consent of an API body's `consent` (as loaded: `at` a datetime or absent)."""
    marketing = body[MARKETING]
    return {
        MARKETING: marketing_consent(
            marketing["granted"], at=marketing.get("at"), source=marketing.get("source"), now=now
        )
    }


def audit(
    db: Database[Any],
    *,
    tenant_id: str,
    pass_id: str,
    stored: Mapping[str, Any],
    who: str,
    via: str,
    now: datetime,
    key: str,
) -> None:
    """Keep one change of the pass's consent in its audit trail (once per `key`)."""
    consent_changes.record(
        db,
        audit_record(
            tenant_id=tenant_id, pass_id=pass_id, consent=stored, who=who, via=via, now=now, key=key
        ),
    )


def change(
    db: Database[Any],
    *,
    tenant_id: str,
    pass_id: str,
    stored: Mapping[str, Any],
    who: str,
    via: str,
    now: datetime,
    key: str,
) -> bool:
    """Set the pass's consent and audit the change; False when there is no such pass."""
    if not consent_changes.set_consent(db, tenant_id, pass_id, stored):
        return False
    audit(
        db, tenant_id=tenant_id, pass_id=pass_id, stored=stored, who=who, via=via, now=now, key=key
    )
    return True
