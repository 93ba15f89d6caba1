"""Builders for Google pass type folders and service-account key files in temporary folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.apple.passtype import DeclaredData

ISSUER = "3388000000022222222"
DECLARED = DeclaredData(
    identifiers=("crm",),
    metadata=("store", "tier", "link"),
    additional_data=("points",),
    external=("firstName",),
    samples={"additionalData": {"points": 120}},  # the object template writes it as an integer
)
CLASS_JSON = """{
  "issuerName": "Test Org",
  "programName": "Test Rewards",
  "programLogo": { "sourceUri": { "uri": "https://example.com/logo.png" } }
}
"""


def object_json(extra: str = "") -> str:
    """A valid loyalty object template; `extra` adds top-level members (text ending with a
    comma) on line 2."""
    return (
        "{\n"
        f"{extra}\n"
        '  "accountId": "{{ pass.identifiers.crm }}",\n'
        '  "loyaltyPoints": {\n'
        '    "label": "Points",\n'
        '    "balance": { "int": {{ pass.additionalData.points | default: 0 | json }} }\n'
        "  },\n"
        '  "barcode": { "type": "QR_CODE", "value": "{{ pass.id }}" },\n'
        '  "textModulesData": [\n'
        '    { "id": "store", "header": "Store", "body": "{{ pass.metadata.store }}" },\n'
        '    { "id": "hello", "body": "Hello {{ external.firstName }}" }\n'
        "  ]\n"
        "}\n"
    )


def write_google(
    root: Path,
    *,
    class_json: str | None = CLASS_JSON,
    object_template: str | None = None,
    name: str = "card",
    with_object: bool = True,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write `<root>/<name>/google/...` (class.json left out when None) and return the pass
    type folder."""
    directory = root / name
    google = directory / "google"
    google.mkdir(parents=True)
    if class_json is not None:
        (google / "class.json").write_text(class_json)
    if with_object:
        text = object_template if object_template is not None else object_json()
        (google / "object.json").write_text(text)
    for member, text in (extra_files or {}).items():
        (google / member).write_text(text)
    return directory


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_info(private_key_pem: str, **overrides: Any) -> dict[str, Any]:
    """The fields of a Google service-account key file (as the Cloud console writes it)."""
    info = {
        "type": "service_account",
        "project_id": "passwire-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key_pem,
        "client_email": "wallet@passwire-test.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return {**info, **overrides}


def write_service_account(path: Path, private_key_pem: str, **overrides: Any) -> Path:
    path.write_text(json.dumps(service_account_info(private_key_pem, **overrides)))
    return path
