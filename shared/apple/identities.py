"""Apple signing identities configured per tenant, loaded once per process.

A tenant's `tenant.toml` names its pass type certificates by reference (files and the names
of environment variables holding passwords), never by value:

    [[apple_certificates]]
    pass_type_identifier = "pass.com.example.demo"
    certificate = "$PASSWIRE_DEV_CERTS_DIR/certificate.pem"   # PEM certificate ...
    key = "$PASSWIRE_DEV_CERTS_DIR/key.pem"                   # ... and key
    key_password_env = "DEMO_KEY_PASSWORD"                    # optional
    wwdr = "$PASSWIRE_DEV_CERTS_DIR/wwdr.pem"
    # or: pkcs12 = "...p12", pkcs12_password_env = "...", wwdr optional if inside the .p12

Paths may use `$VARS` and are relative to the tenant folder.

Rotating a certificate (new files at the same paths, same pass type identifier) needs no
restart: `IdentityStore.get` compares the files' size, mtime and inode (a `stat`, no read) with
those it loaded, and loads the new files when they differ. It does so at most once per
`FILES_CHECK_INTERVAL_S` per identity: every pass rendered and signed asks for its identity, and
three `stat`s per pass were a sixth of a pass's cost above its RSA signature, while a rotation
seen within a second is as good as one seen at once. New files that do not make a usable
identity (a certificate copied before its key) are not used: the previous identity keeps
signing and `problems()` says why, until the files are complete.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from shared.apple.certificates import (
    SigningIdentity,
    SigningMaterialError,
    load_identity_from_pem_files,
    load_identity_from_pkcs12_file,
    validate_identity,
)

log = logging.getLogger(__name__)

# How long a loaded identity is used without looking at its files again: the most a rotation
# takes to show in a running process (docs/operations.md).
FILES_CHECK_INTERVAL_S = 1.0

# What identifies a version of the files on disk: (path, size, mtime, inode) each, or the reason
# one cannot be stat-ed (the load then fails and says so).
FilesVersion = tuple[tuple[str, int, int, int] | str, ...]


@dataclass(frozen=True)
class CertificateRef:
    pass_type_identifier: str
    base_dir: Path
    certificate: str | None = None
    key: str | None = None
    key_password_env: str | None = None
    wwdr: str | None = None
    pkcs12: str | None = None
    pkcs12_password_env: str | None = None

    def path(self, value: str) -> Path:
        expanded = os.path.expandvars(value)
        if "$" in expanded:
            raise SigningMaterialError(value, "names an environment variable that is not set")
        path = Path(expanded)
        return path if path.is_absolute() else self.base_dir / path

    def files(self) -> list[Path]:
        """The files the identity is read from (environment variables expanded)."""
        named = [self.pkcs12, self.wwdr] if self.pkcs12 else [self.certificate, self.key, self.wwdr]
        return [self.path(value) for value in named if value]

    @cached_property
    def _file_names(self) -> tuple[str, ...]:
        # Resolved once: the environment does not change under a running process.
        return tuple(str(path) for path in self.files())

    def files_version(self) -> FilesVersion:
        try:
            names = self._file_names
        except SigningMaterialError as exc:
            return (str(exc),)
        version: list[tuple[str, int, int, int] | str] = []
        for name in names:
            try:
                found = os.stat(name)
            except OSError as exc:
                version.append(f"{name}: {exc.strerror}")
                continue
            version.append((name, found.st_size, found.st_mtime_ns, found.st_ino))
        return tuple(version)

    def password(self, env_name: str | None) -> bytes | None:
        if not env_name:
            return None
        value = os.environ.get(env_name)
        if value is None:
            raise SigningMaterialError(env_name, "password environment variable is not set")
        return value.encode("utf-8")


def load_identity(ref: CertificateRef) -> SigningIdentity:
    if ref.pkcs12:
        return load_identity_from_pkcs12_file(
            ref.path(ref.pkcs12),
            ref.password(ref.pkcs12_password_env),
            wwdr_path=ref.path(ref.wwdr) if ref.wwdr else None,
        )
    if not (ref.certificate and ref.key and ref.wwdr):
        raise SigningMaterialError(
            ref.pass_type_identifier, "needs certificate, key and wwdr, or pkcs12"
        )
    return load_identity_from_pem_files(
        ref.path(ref.certificate),
        ref.path(ref.key),
        ref.path(ref.wwdr),
        key_password=ref.password(ref.key_password_env),
    )


def client_certificate_pem(identity: SigningIdentity) -> tuple[bytes, bytes]:
    """Certificate and unencrypted key as PEM, for the APNs TLS client (kept in memory)."""
    certificate = identity.certificate.public_bytes(serialization.Encoding.PEM)
    key = identity.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate, key


@dataclass(frozen=True)
class _Loaded:
    identity: SigningIdentity
    version: FilesVersion


class IdentityStore:
    """Identities by passTypeIdentifier, each loaded (and its key parsed) once per version of
    its files, which are looked at again at most once per `check_interval_s` (see the module
    docstring: rotation without a restart). `clock`: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        refs: dict[str, CertificateRef],
        *,
        check_interval_s: float = FILES_CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refs = refs
        self._check_interval_s = check_interval_s
        self._clock = clock
        self._loaded: dict[str, _Loaded] = {}
        # Files that changed but did not load as a usable identity, by passTypeIdentifier.
        self._rejected: dict[str, tuple[FilesVersion, str]] = {}
        # (when the files were last looked at, the identity get returned then); each entry is
        # replaced whole under the lock and read without it (the path of every pass).
        self._checked: dict[str, tuple[float, SigningIdentity]] = {}
        self._lock = threading.Lock()

    def pass_type_identifiers(self) -> list[str]:
        return sorted(self._refs)

    def get(self, pass_type_identifier: str) -> SigningIdentity:
        checked = self._checked.get(pass_type_identifier)
        if checked is not None and self._clock() - checked[0] < self._check_interval_s:
            return checked[1]
        with self._lock:
            ref = self._refs.get(pass_type_identifier)
            if ref is None:
                raise SigningMaterialError(
                    pass_type_identifier, "no certificate is configured for it"
                )
            checked_at = self._clock()  # before the stat: a change after it shows next time
            identity = self._current(ref, ref.files_version())
            self._checked[pass_type_identifier] = (checked_at, identity)
            return identity

    def _current(self, ref: CertificateRef, version: FilesVersion) -> SigningIdentity:
        ptid = ref.pass_type_identifier
        loaded = self._loaded.get(ptid)
        if loaded is not None and loaded.version == version:
            self._rejected.pop(ptid, None)  # back to the files in use
            return loaded.identity
        rejected = self._rejected.get(ptid)
        if loaded is not None and rejected is not None and rejected[0] == version:
            return loaded.identity
        return self._load(ref, version, loaded)

    def _load(
        self, ref: CertificateRef, version: FilesVersion, previous: _Loaded | None
    ) -> SigningIdentity:
        ptid = ref.pass_type_identifier
        try:
            identity = load_identity(ref)
            problems = validate_identity(identity, expected_pass_type_identifier=ptid)
        except SigningMaterialError as exc:
            if previous is None:
                raise
            problems = [str(exc)]
        if previous is not None and problems:
            # Mid-rotation (or a bad copy): keep signing with what worked.
            reason = "; ".join(problems)
            if self._rejected.get(ptid, ((), ""))[0] != version:
                log.warning("%s: changed certificate files not used yet: %s", ptid, reason)
            self._rejected[ptid] = (version, reason)
            return previous.identity
        if previous is not None:
            log.info("%s: certificate files changed, signing with the new certificate", ptid)
        self._loaded[ptid] = _Loaded(identity, version)
        self._rejected.pop(ptid, None)
        return identity

    def identities(self) -> list[SigningIdentity]:
        """Every identity that loads, by passTypeIdentifier (problems() names the others)."""
        found: list[SigningIdentity] = []
        for pass_type_identifier in sorted(self._refs):
            try:
                found.append(self.get(pass_type_identifier))
            except SigningMaterialError:
                continue
        return found

    def problems(self, now: datetime | None = None) -> list[str]:
        """Every unreadable, expired or mismatched certificate, for start-up and /readyz."""
        found: list[str] = []
        for pass_type_identifier in sorted(self._refs):
            try:
                identity = self.get(pass_type_identifier)
            except SigningMaterialError as exc:
                found.append(f"{pass_type_identifier}: {exc}")
                continue
            found.extend(
                f"{pass_type_identifier}: {problem}"
                for problem in validate_identity(
                    identity, expected_pass_type_identifier=pass_type_identifier, now=now
                )
            )
            with self._lock:
                rejected = self._rejected.get(pass_type_identifier)
            if rejected is not None:
                found.append(
                    f"{pass_type_identifier}: changed files not used, still signing with the "
                    f"previous certificate: {rejected[1]}"
                )
        return found
