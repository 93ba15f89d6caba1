"""Test tenants' Google issuers: the demo issuer sped up, and a second issuer paced at Google's
default quota with a Google-only pass type."""

from __future__ import annotations

import shutil
from pathlib import Path

# -- test tenants ------------------------------------------------------------------------

DEMO_ISSUER_ID = "3388000000022222222"
PACED_ISSUER_ID = "3388000000022000009"
TEST_ISSUER_RPS = 1000  # the demo issuer in tests: fast, the fake's quota is higher still
PACED_RPS = 20  # Google's default quota, for the pacing test

_PACED_ISSUER = f"""
[[google_issuers]]
issuer_id = "{PACED_ISSUER_ID}"
service_account_key = "$PASSWIRE_DEV_CERTS_DIR/google-service-account.json"
requests_per_second = {PACED_RPS}
"""

_PACED_PASSTYPE = f"""kind = "loyalty"
description = "Google-only loyalty card under an issuer paced at Google's default quota"

[data]
identifiers = ["crm"]
metadata = ["store", "tier"]
additionalData = ["points"]

[google]
issuer_id = "{PACED_ISSUER_ID}"
"""


def add_paced_google_issuer(demo_dir: Path) -> None:
    """The demo issuer at TEST_ISSUER_RPS, and passtypes/paced: a Google-only copy of the
    loyalty card under a second issuer limited to PACED_RPS."""
    tenant_toml = demo_dir / "tenant.toml"
    text = tenant_toml.read_text()
    issuer_line = f'issuer_id = "{DEMO_ISSUER_ID}"\n'
    assert issuer_line in text, "the demo tenant's Google issuer changed: update tests/support"
    text = text.replace(issuer_line, f"{issuer_line}requests_per_second = {TEST_ISSUER_RPS}\n")
    tenant_toml.write_text(text + _PACED_ISSUER)
    paced = demo_dir / "passtypes" / "paced"
    paced.mkdir()
    shutil.copytree(demo_dir / "passtypes" / "loyalty" / "google", paced / "google")
    (paced / "passtype.toml").write_text(_PACED_PASSTYPE)


_MINI_PASSTYPE = f"""kind = "generic"
description = "A small Google-only generic pass: its whole object fits in a Save link"

[data]
identifiers = ["crm"]
metadata = ["name"]

[google]
issuer_id = "{DEMO_ISSUER_ID}"
"""
_MINI_CLASS = "{}\n"
_MINI_OBJECT = """{
  "cardTitle": { "defaultValue": { "language": "en", "value": "Demo Coffee" } },
  "header": {
    "defaultValue": { "language": "en", "value": "{{ pass.metadata.name | default: "Guest" }}" }
  },
  "barcode": { "type": "QR_CODE", "value": "{{ pass.id }}" }
}
"""


def add_mini_google_pass_type(demo_dir: Path) -> None:
    """passtypes/mini: a Google-only generic pass whose object is small enough for a full
    Save to Google Wallet JWT (the demo loyalty card's is not)."""
    mini = demo_dir / "passtypes" / "mini"
    (mini / "google").mkdir(parents=True)
    (mini / "passtype.toml").write_text(_MINI_PASSTYPE)
    (mini / "google" / "class.json").write_text(_MINI_CLASS)
    (mini / "google" / "object.json").write_text(_MINI_OBJECT)
