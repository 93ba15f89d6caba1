"""The certificate check's memory (MongoDB): each threshold fires once per certificate, the
next one fires when its day comes, and a renewed certificate starts afresh."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dev import testing_certs
from shared.apple.expiry_alerts import fire_expiry_warnings
from shared.apple.identities import CertificateRef, IdentityStore
from shared.jobs import JobQueue
from shared.tenancy.tenants import Tenant

PTID = testing_certs.DEMO_PASS_TYPE_IDENTIFIER


def tenant_with_certificate(directory: Path, not_after: datetime) -> Tenant:
    wwdr, wwdr_key = testing_certs.make_wwdr()
    certificate, key = testing_certs.make_pass_certificate(wwdr, wwdr_key, not_after=not_after)
    testing_certs.write_pem_files(
        testing_certs.TestMaterial(wwdr, wwdr_key, certificate, key), directory
    )
    ref = CertificateRef(PTID, directory, "certificate.pem", "key.pem", wwdr="wwdr.pem")
    # No webhook endpoint: the check records and logs, with nothing to deliver.
    return Tenant(
        id=f"t{secrets.token_hex(4)}",
        name="Certificates",
        api_keys=(),
        pass_types={},
        apple_identities=IdentityStore({PTID: ref}),
    )


def fired(db: Any, tenant: Tenant) -> list[int]:
    found = db.certificate_alerts.find({"tenant": tenant.id}).sort("firedAt", 1)
    return [document["thresholdDays"] for document in found]


def test_each_threshold_fires_once_as_its_day_comes(db: Any, settings: Any, tmp_path: Path) -> None:
    end = datetime.now(UTC) + timedelta(days=40)
    tenant = tenant_with_certificate(tmp_path / "a", end)
    queue = JobQueue(settings)

    def check(days_before_end: float) -> int:
        now = end - timedelta(days=days_before_end)
        return fire_expiry_warnings(db, [tenant], queue, now=now)

    assert check(35) == 0  # more than 30 days left: nothing yet
    assert check(29) == 1
    assert check(28) == 0  # the same threshold: already fired
    assert check(6.5) == 1  # the 7-day warning
    assert check(0.5) == 1  # the last one
    assert check(-2) == 0  # expired: readiness says so, the last warning was sent
    assert fired(db, tenant) == [30, 7, 1]


def test_first_seen_late_fires_only_the_most_urgent_threshold(
    db: Any, settings: Any, tmp_path: Path
) -> None:
    end = datetime.now(UTC) + timedelta(days=5)
    tenant = tenant_with_certificate(tmp_path / "b", end)
    assert fire_expiry_warnings(db, [tenant], JobQueue(settings), now=datetime.now(UTC)) == 1
    assert fired(db, tenant) == [7]
