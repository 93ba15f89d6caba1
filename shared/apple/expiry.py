"""When each tenant's Apple certificates expire, and which warning is due.

Apple certificates are the only credentials passwire holds whose expiry it can know: a pass
type certificate signs passes and is also the APNs client certificate; the WWDR intermediate
above it expires too. A Google service-account key file carries no expiry (Google keeps it, if
any, on its side), so it is not listed.

Warnings start WARNING_DAYS before the end; `certificate.expiring` fires once per threshold of
THRESHOLDS crossed (shared/apple/expiry_alerts.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes

if TYPE_CHECKING:
    from shared.tenancy.tenants import Tenant

WARNING_DAYS = 30
THRESHOLDS = (30, 7, 1)  # days before the end; one event each
PASS_TYPE_CERTIFICATE = "pass type certificate"
WWDR_CERTIFICATE = "WWDR certificate"


@dataclass(frozen=True)
class CertificateExpiry:
    tenant_id: str
    pass_type_identifier: str
    kind: str  # PASS_TYPE_CERTIFICATE or WWDR_CERTIFICATE
    not_after: datetime
    fingerprint: str  # SHA-256 of the certificate: a rotated certificate is another one
    source: str  # the file it was read from

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now) / timedelta(days=1)

    def due_threshold(self, now: datetime) -> int | None:
        """The most urgent threshold crossed (30, 7 or 1 days; 1 once expired), or None while
        more than WARNING_DAYS are left."""
        left = self.days_left(now)
        crossed = [threshold for threshold in THRESHOLDS if left <= threshold]
        return min(crossed) if crossed else None

    def describe(self, now: datetime) -> str:
        left = self.days_left(now)
        when = self.not_after.isoformat()
        if left < 0:
            return f"{self.tenant_id}: {self.pass_type_identifier}: {self.kind} expired on {when}"
        return (
            f"{self.tenant_id}: {self.pass_type_identifier}: {self.kind} expires on {when} "
            f"(in {left:.1f} days)"
        )


def _expiry(
    tenant_id: str, pass_type_identifier: str, kind: str, cert: x509.Certificate, source: str
) -> CertificateExpiry:
    return CertificateExpiry(
        tenant_id=tenant_id,
        pass_type_identifier=pass_type_identifier,
        kind=kind,
        not_after=cert.not_valid_after_utc,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        source=source,
    )


def certificate_expiries(tenants: Iterable[Tenant]) -> list[CertificateExpiry]:
    """Every loadable Apple certificate of every tenant, earliest end first (the ones that do
    not load are readiness problems, listed by `IdentityStore.problems`)."""
    found: list[CertificateExpiry] = []
    for tenant in tenants:
        for identity in tenant.apple_identities.identities():
            ptid, sources = identity.pass_type_identifier, identity.sources
            found.append(
                _expiry(
                    tenant.id,
                    ptid,
                    PASS_TYPE_CERTIFICATE,
                    identity.certificate,
                    sources.certificate,
                )
            )
            found.append(
                _expiry(tenant.id, ptid, WWDR_CERTIFICATE, identity.wwdr_certificate, sources.wwdr)
            )
    return sorted(found, key=lambda item: (item.not_after, item.tenant_id, item.kind))


def expiring(expiries: Iterable[CertificateExpiry], now: datetime) -> list[CertificateExpiry]:
    """Those within WARNING_DAYS of their end (or past it)."""
    return [item for item in expiries if item.due_threshold(now) is not None]
