"""What a pass's lifecycle puts into its pass.json (`voided`, `expirationDate`), what its
templates may read of it (`pass.status`, `pass.expirationDate`, `pass.balance`), and the
barcode messages stored to find a pass by a scan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.apple.barcodes import barcode_messages
from shared.apple.pass_json import OWNED_KEYS, STATUS_KEYS, TOP_LEVEL_KEYS, validate_pass_json
from shared.apple.passtype import (
    ApplePassType,
    ApplePassTypeError,
    build_render_context,
    load_apple_pass_type,
    read_declared_data,
    render_pass_json,
)
from shared.lifecycle.apple_keys import status_keys
from tests.unit.apple.passtype_helpers import DECLARED, DEMO_DIR, field, template, write_pass_type

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
CHANGED = NOW - timedelta(hours=2)
OWNED = {
    "serial_number": "Ed34kg3oA47xyzABCDEFGH",
    "authentication_token": "tok-0123456789abcdef0123",
    "web_service_url": "https://passes.example.com/apple",
    "pass_type_identifier": "pass.com.example.demo",
    "team_identifier": "TEAMID1234",
}


def document(**lifecycle: Any) -> dict[str, Any]:
    return {
        "_id": OWNED["serial_number"],
        "passType": "loyalty",
        "identifiers": {"crm": "C-1"},
        "metadata": {},
        "additionalData": {"points": 3},
        "statusChangedAt": CHANGED,
        **lifecycle,
    }


def render(pass_type: ApplePassType, doc: dict[str, Any]) -> bytes:
    context = build_render_context(doc, external={}, now=NOW)
    return render_pass_json(pass_type, context, status_keys=status_keys(doc), **OWNED)


@pytest.fixture(scope="module")
def demo() -> ApplePassType:
    return load_apple_pass_type(DEMO_DIR, read_declared_data(DEMO_DIR / "passtype.toml"))


def test_an_active_pass_carries_no_status_keys(demo: ApplePassType) -> None:
    assert status_keys(document(status="active")) == {}
    assert status_keys(document()) == {}  # stored before statuses existed
    plain = json.loads(render(demo, document(status="active")))
    assert "voided" not in plain and "expirationDate" not in plain


@pytest.mark.parametrize("status", ["redeemed", "blocked", "voided", "expired"])
def test_a_pass_no_longer_usable_is_voided(demo: ApplePassType, status: str) -> None:
    rendered = render(demo, document(status=status))
    doc = json.loads(rendered)
    assert doc["voided"] is True
    assert doc["storeCard"]["headerFields"][0]["value"] == 3  # the rest is as always
    # Valid by Apple's rules: the status keys' own checks, the template's part as always.
    for key in STATUS_KEYS:
        assert key not in doc or TOP_LEVEL_KEYS[key](doc[key]) is None
    assert validate_pass_json({k: v for k, v in doc.items() if k not in OWNED_KEYS}) == []


@pytest.mark.parametrize(
    ("lifecycle", "shown"),
    [
        ({"status": "active", "expirationDate": NOW + timedelta(days=3)}, "2030-06-04T12:00:00Z"),
        ({"status": "blocked", "expirationDate": NOW + timedelta(days=3)}, "2030-06-04T12:00:00Z"),
        # Expired: when it expired, its date or the moment it was set expired if earlier.
        ({"status": "expired", "expirationDate": CHANGED - timedelta(minutes=1)}, "09:59:00Z"),
        ({"status": "expired", "expirationDate": NOW + timedelta(days=3)}, "10:00:00Z"),
        ({"status": "expired"}, "2030-06-01T10:00:00Z"),
    ],
)
def test_expiration_date_shown(lifecycle: dict[str, Any], shown: str) -> None:
    assert status_keys(document(**lifecycle))["expirationDate"].endswith(shown)


def test_dates_are_in_wallets_format_whatever_the_offset(demo: ApplePassType) -> None:
    paris = NOW.astimezone(ZoneInfo("Europe/Paris"))
    doc = json.loads(render(demo, document(status="active", expirationDate=paris)))
    assert doc["expirationDate"] == "2030-06-01T12:00:00Z"


def test_status_keys_take_the_full_path_with_the_same_result(demo: ApplePassType) -> None:
    # The prechecked shortcut never sees status keys; the full path adds them to what the
    # shortcut writes for the same pass.
    assert demo.prechecked is not None
    doc = document(status="voided", expirationDate=NOW)
    with_keys = json.loads(render(demo, doc))
    context = build_render_context(doc, external={}, now=NOW)
    without = json.loads(render_pass_json(demo, context, **OWNED))
    assert with_keys == {**without, "voided": True, "expirationDate": "2030-06-01T12:00:00Z"}


def lifecycle_template(value: str) -> str:
    return template(fields=field("a", value))


def test_templates_read_status_balance_and_expiration_date(tmp_path: Path) -> None:
    directory = write_pass_type(
        tmp_path,
        pass_json=template(
            fields=", ".join(
                [
                    field("status", '"{{ pass.status }}"'),
                    field("balance", "{{ pass.balance | json }}"),
                    field("expires", '"{{ pass.expirationDate | default: "never" }}"'),
                ]
            )
        ),
    )
    pass_type = load_apple_pass_type(directory, DECLARED)

    def values(doc: dict[str, Any]) -> list[Any]:
        rendered = json.loads(render(pass_type, doc))
        return [item["value"] for item in rendered["storeCard"]["primaryFields"]]

    assert values(document(status="active")) == ["active", 0, "never"]
    later = NOW + timedelta(days=1)
    assert values(document(status="blocked", balance={"amount": 1250}, expirationDate=later)) == [
        "blocked",
        1250,
        later.isoformat(),
    ]


def test_a_template_must_cope_without_an_expiration_date(tmp_path: Path) -> None:
    # Most passes have none: reading it without `| default:` fails when the type loads.
    directory = write_pass_type(
        tmp_path, pass_json=lifecycle_template('"{{ pass.expirationDate }}"')
    )
    with pytest.raises(ApplePassTypeError) as error:
        load_apple_pass_type(directory, DECLARED)
    assert "expirationDate" in str(error.value)


def test_lifecycle_values_are_scalars_not_groups(tmp_path: Path) -> None:
    directory = write_pass_type(tmp_path, pass_json=lifecycle_template('"{{ pass.balance.x }}"'))
    with pytest.raises(ApplePassTypeError, match=r"references pass\.balance\.x"):
        load_apple_pass_type(directory, DECLARED)


def test_barcode_messages() -> None:
    def of(doc: dict[str, Any]) -> list[str]:
        return barcode_messages(json.dumps(doc).encode())

    barcode = {"format": "PKBarcodeFormatQR", "messageEncoding": "iso-8859-1"}
    assert of({"barcodes": [{**barcode, "message": "A"}, {**barcode, "message": "B"}]}) == [
        "A",
        "B",
    ]
    assert of({"barcodes": [{**barcode, "message": "A"}], "barcode": {"message": "A"}}) == ["A"]
    assert of({"barcode": {**barcode, "message": "OLD"}}) == ["OLD"]
    assert of({"storeCard": {}}) == []
