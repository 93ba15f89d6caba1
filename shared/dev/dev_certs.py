"""Throwaway certificates for `make run`: a fake WWDR and pass type certificate for the demo
tenant, and TLS material for the local fake APNs. Generated once into `.run/dev-certs/`.

Never used outside local development: real tenants point at the certificates Apple issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.apple import testing_certs
from shared.dev.fake_apns.certs import generate_test_pki


@dataclass(frozen=True)
class DevCerts:
    signing_dir: Path  # certificate.pem, key.pem, wwdr.pem (PASSWIRE_DEV_CERTS_DIR)
    apns_server_cert: Path
    apns_server_key: Path
    apns_server_ca: Path


def ensure_dev_certs(root: Path) -> DevCerts:
    signing = root / "signing"
    apns = root / "apns"
    if not (signing / "wwdr.pem").exists():
        testing_certs.write_pem_files(testing_certs.generate_material(), signing)
    if not (apns / "server-ca.pem").exists():
        generate_test_pki(apns)
    return DevCerts(
        signing_dir=signing,
        apns_server_cert=apns / "server.pem",
        apns_server_key=apns / "server.key",
        apns_server_ca=apns / "server-ca.pem",
    )
