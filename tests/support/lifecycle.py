"""Demo pass types for the lifecycle tests, with the demo loyalty card's images: a redeemable
`voucher` (kind coupon; not `coupon`, which other tests use as a pass type the demo lacks)
whose barcode is its `code` identifier, a `giftcard` keeping a money balance in EUR (never
below zero) and a `points` card keeping points (negative allowed)."""

from __future__ import annotations

import shutil
from pathlib import Path

_APPLE = '[apple]\npass_type_identifier = "pass.com.example.demo"\n'

COUPON_PASSTYPE = f"""kind = "coupon"
description = "Demo Coffee coupon"

[data]
identifiers = ["code"]

{_APPLE}"""

COUPON_TEMPLATE = """{
  "description": "Demo Coffee coupon",
  "organizationName": "Demo Coffee",
  "logoText": "Demo Coffee",
  "coupon": {
    "primaryFields": [{"key": "offer", "label": "Offer", "value": "Free coffee"}],
    "auxiliaryFields": [
      {"key": "status", "label": "Status", "value": "{{ pass.status }}"},
      {"key": "expires", "label": "Expires",
       "value": "{{ pass.expirationDate | default: "never" }}"}
    ]
  },
  "barcodes": [
    {
      "format": "PKBarcodeFormatQR",
      "message": "{{ pass.identifiers.code | default: pass.id }}",
      "messageEncoding": "iso-8859-1"
    }
  ]
}
"""

GIFTCARD_PASSTYPE = f"""kind = "giftCard"
description = "Demo Coffee gift card"

[balance]
unit = "money"
currency = "EUR"

{_APPLE}"""

POINTS_PASSTYPE = f"""kind = "loyalty"
description = "Demo Coffee points card"

[balance]
unit = "points"
allow_negative = true

{_APPLE}"""


def _balance_template(description: str, value: str, extra: str, message: str) -> str:
    return f"""{{
  "description": "{description}",
  "organizationName": "Demo Coffee",
  "storeCard": {{
    "headerFields": [
      {{"key": "balance", "label": "Balance", "value": {value},{extra}
       "changeMessage": "{message}"}}
    ],
    "primaryFields": [{{"key": "card", "label": "Card", "value": "{{{{ pass.id }}}}"}}]
  }}
}}
"""


GIFTCARD_TEMPLATE = _balance_template(
    "Demo Coffee gift card",
    "{{ pass.balance | divided_by: 100.0 | json }}",
    ' "currencyCode": "EUR",',
    "You now have %@",
)
POINTS_TEMPLATE = _balance_template(
    "Demo Coffee points card", "{{ pass.balance | json }}", "", "You now have %@ points"
)


def add_lifecycle_pass_types(demo_dir: Path) -> None:
    """passtypes/voucher, giftcard and points (Apple only) in the demo tenant folder."""
    for name, passtype, template in (
        ("voucher", COUPON_PASSTYPE, COUPON_TEMPLATE),
        ("giftcard", GIFTCARD_PASSTYPE, GIFTCARD_TEMPLATE),
        ("points", POINTS_PASSTYPE, POINTS_TEMPLATE),
    ):
        target = demo_dir / "passtypes" / name
        shutil.copytree(demo_dir / "passtypes" / "loyalty" / "apple", target / "apple")
        (target / "passtype.toml").write_text(passtype)
        (target / "apple" / "pass.json").write_text(template)
