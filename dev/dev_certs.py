"""Throwaway certificates for `make run`: a fake WWDR and pass type certificate for the demo
tenant, TLS material for the local fake APNs, and a Google service-account key the local fake
Google Wallet API accepts. Generated once into `.run/dev-certs/`.

Never used outside local development: real tenants point at the certificates Apple issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dev import testing_certs
from dev.fake_apns.certs import generate_test_pki
from dev.fake_google.service_account import write_service_account

# The demo tenant's issuer reads `$PASSWIRE_DEV_CERTS_DIR/google-service-account.json`.
GOOGLE_ACCOUNT_EMAIL = "google-service-account@passwire-dev.iam.gserviceaccount.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # GOOGLE_TOKEN_URI points locally


@dataclass(frozen=True)
class DevCerts:
    signing_dir: Path  # certificate.pem, key.pem, wwdr.pem (PASSWIRE_DEV_CERTS_DIR)
    apns_server_cert: Path
    apns_server_key: Path
    apns_server_ca: Path
    google_service_account: Path


def ensure_dev_certs(root: Path) -> DevCerts:
    signing = root / "signing"
    apns = root / "apns"
    if not (signing / "wwdr.pem").exists():
        testing_certs.write_pem_files(testing_certs.generate_material(), signing)
    if not (apns / "server-ca.pem").exists():
        generate_test_pki(apns)
    google_key = signing / "google-service-account.json"
    if not google_key.exists():
        write_service_account(
            signing,
            client_email=GOOGLE_ACCOUNT_EMAIL,
            token_uri=GOOGLE_TOKEN_URI,
        )
    return DevCerts(
        signing_dir=signing,
        apns_server_cert=apns / "server.pem",
        apns_server_key=apns / "server.key",
        apns_server_ca=apns / "server-ca.pem",
        google_service_account=google_key,
    )
