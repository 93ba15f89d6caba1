"""A pass type certificate near its end: which warning is due, and rotating its files while the
process runs (no restart): a signature after the check interval uses the new certificate,
within it the files are not even looked at, and half-copied files are not used."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from dev import testing_certs
from shared.apple import identities
from shared.apple.expiry import CertificateExpiry
from shared.apple.identities import FILES_CHECK_INTERVAL_S, CertificateRef, IdentityStore

PTID = testing_certs.DEMO_PASS_TYPE_IDENTIFIER
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def expiry_in(days: float) -> CertificateExpiry:
    return CertificateExpiry("demo", PTID, "pass type certificate", NOW + timedelta(days=days),
                             "ab" * 32, "certificate.pem")  # fmt: skip


@pytest.mark.parametrize(
    ("days_left", "due"),
    [(45, None), (30.5, None), (30, 30), (10, 30), (7, 7), (2, 7), (1, 1), (0.2, 1), (-3, 1)],
)
def test_the_most_urgent_threshold_crossed_is_due(days_left: float, due: int | None) -> None:
    assert expiry_in(days_left).due_threshold(NOW) == due


def test_the_description_names_the_certificate_and_its_end() -> None:
    assert expiry_in(10).describe(NOW) == (
        f"demo: {PTID}: pass type certificate expires on 2026-12-16T12:00:00+00:00 (in 10.0 days)"
    )
    assert "expired on" in expiry_in(-1).describe(NOW)


def write_pass_certificate(
    directory: Path, material: testing_certs.TestMaterial, *, days: int
) -> testing_certs.TestMaterial:
    """A new key and certificate for the same pass type, ending in `days`, written over the
    files in `directory` (the WWDR stays)."""
    certificate, key = testing_certs.make_pass_certificate(
        material.wwdr_certificate,
        material.wwdr_key,
        not_after=datetime.now(UTC) + timedelta(days=days),
    )
    renewed = testing_certs.TestMaterial(
        material.wwdr_certificate, material.wwdr_key, certificate, key
    )
    testing_certs.write_pem_files(renewed, directory)
    return renewed


class FakeClock:
    """Monotonic seconds that move only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def after_the_interval(self) -> None:
        self.now += FILES_CHECK_INTERVAL_S


def store_for(directory: Path, clock: FakeClock) -> IdentityStore:
    ref = CertificateRef(PTID, directory, "certificate.pem", "key.pem", wwdr="wwdr.pem")
    return IdentityStore({PTID: ref}, clock=clock)


def fingerprint(store: IdentityStore) -> bytes:
    return store.get(PTID).certificate.fingerprint(hashes.SHA256())


def test_rotated_files_are_used_by_the_next_get_without_a_restart(
    material: testing_certs.TestMaterial, tmp_path: Path
) -> None:
    old = write_pass_certificate(tmp_path, material, days=10)
    clock = FakeClock()
    store = store_for(tmp_path, clock)
    first = store.get(PTID)
    clock.after_the_interval()
    assert store.get(PTID) is first  # unchanged files: no reload
    assert first.certificate == old.certificate

    new = write_pass_certificate(tmp_path, material, days=400)
    clock.after_the_interval()
    rotated = store.get(PTID)
    assert rotated.certificate == new.certificate
    assert rotated.private_key.private_numbers() == new.private_key.private_numbers()
    assert store.get(PTID) is rotated
    assert store.problems() == []


def test_half_copied_files_keep_the_previous_identity_until_complete(
    material: testing_certs.TestMaterial, tmp_path: Path
) -> None:
    old = write_pass_certificate(tmp_path, material, days=10)
    clock = FakeClock()
    store = store_for(tmp_path, clock)
    assert store.get(PTID).certificate == old.certificate

    # The operator has copied the new certificate, not yet its key.
    key_pem = (tmp_path / "key.pem").read_bytes()
    new = write_pass_certificate(tmp_path, material, days=400)
    new_key_pem = (tmp_path / "key.pem").read_bytes()
    (tmp_path / "key.pem").write_bytes(key_pem)
    os.utime(tmp_path / "key.pem")
    clock.after_the_interval()
    assert store.get(PTID).certificate == old.certificate  # still signs, with the old pair
    [problem] = store.problems()
    assert "changed files not used" in problem and "does not match" in problem

    (tmp_path / "key.pem").write_bytes(new_key_pem)  # the copy completes
    clock.after_the_interval()
    assert store.get(PTID).certificate == new.certificate
    assert store.problems() == []
    assert fingerprint(store) == new.certificate.fingerprint(hashes.SHA256())


def test_within_the_interval_the_files_are_not_looked_at_and_a_rotation_shows_after_it(
    material: testing_certs.TestMaterial, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = write_pass_certificate(tmp_path, material, days=10)
    clock = FakeClock()
    store = store_for(tmp_path, clock)
    assert store.get(PTID).certificate == old.certificate
    looked_at: list[str] = []
    stat = os.stat

    def counted_stat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).startswith(str(tmp_path)):
            looked_at.append(str(path))
        return stat(path, *args, **kwargs)  # type: ignore[arg-type]

    new = write_pass_certificate(tmp_path, material, days=400)
    monkeypatch.setattr(identities.os, "stat", counted_stat)
    clock.now += FILES_CHECK_INTERVAL_S * 0.99  # just inside the interval
    for _ in range(3):
        assert store.get(PTID).certificate == old.certificate
    assert looked_at == []

    clock.now += FILES_CHECK_INTERVAL_S * 0.01  # the interval has passed
    assert store.get(PTID).certificate == new.certificate
    files = sorted(str(tmp_path / name) for name in ("certificate.pem", "key.pem", "wwdr.pem"))
    assert sorted(looked_at) == files
    looked_at.clear()
    assert store.get(PTID).certificate == new.certificate  # checked just now: no stat
    assert looked_at == []
