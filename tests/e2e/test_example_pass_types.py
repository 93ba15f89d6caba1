"""The demo tenant's example pass types, one per style, end to end: created through the API by
the real worker, each `.pkpass` verifies (signature and manifest) with a pass.json valid for
its style, and each Save to Google Wallet link carries a JWT that verifies. And the stamp
card's strip, chosen per pass: a stamp more changes it in the manifest and pushes once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.apple.pass_json import OWNED_KEYS, styles_in, validate_pass_json
from tests.conftest import CONFIG_DIR
from tests.e2e.test_google_wallet import object_id, save_jwt, verified_claims
from tests.support.api_client import ApiClient
from tests.support.apple import (
    ApplePki,
    WalletDevice,
    check_manifest,
    download_pkpass,
    openssl_verify,
    sha1,
    unpack,
    update_pass,
)
from tests.support.google import FakeGoogleProcess
from tests.support.google_tenants import DEMO_ISSUER_ID

pytestmark = pytest.mark.usefixtures("worker")

PASSTYPES = CONFIG_DIR / "tenants" / "demo" / "passtypes"
# pass type -> (Apple style, Google kind, create body)
EXAMPLES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "coupon": ("coupon", "offer", {"metadata": {"code": "SPRING20"}}),
    "event": (
        "eventTicket",
        "eventTicket",
        {"metadata": {"holder": "Ada", "section": "B", "row": "4", "seat": "7"}},
    ),
    "boarding": ("boardingPass", "generic", {"metadata": {"passenger": "Ada", "seat": "14C"}}),
    "membership": ("generic", "generic", {"identifiers": {"crm": "M-1"}}),
    "gift": ("storeCard", "giftCard", {"identifiers": {"card": "GC-1"}}),
    "stamps": ("storeCard", "loyalty", {"additionalData": {"stamps": 2}}),
}


def create(client: ApiClient, pass_type: str, body: dict[str, Any]) -> str:
    response = client.create_pass(pass_type, **body)
    assert response.status_code == 202, response.text
    operation = client.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation
    return str(response.json()["passId"])


def verified_files(content: bytes, pki: ApplePki, workdir: Path) -> dict[str, bytes]:
    files = unpack(content)
    check_manifest(files)
    verified = openssl_verify(files["signature"], files["manifest.json"], pki.root, workdir)
    assert verified.returncode == 0, verified.stderr
    return files


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_verifies_on_both_wallets(  # noqa: PLR0917 - pytest injects fixtures
    name: str,
    demo: ApiClient,
    apple_pki: ApplePki,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
    tmp_path: Path,
) -> None:
    style, google_kind, body = EXAMPLES[name]
    pass_id = create(demo, name, body)

    download = download_pkpass(demo, pass_id)
    assert download.status_code == 200, download.text
    files = verified_files(download.content, apple_pki, tmp_path)
    pass_json = json.loads(files["pass.json"])
    assert styles_in(pass_json) == [style]
    # Apple's rules for the style (the keys passwire sets are checked on their own above).
    template_part = {key: value for key, value in pass_json.items() if key not in OWNED_KEYS}
    assert validate_pass_json(template_part) == []
    assert pass_json["serialNumber"] == pass_id
    if style == "eventTicket":
        assert pass_json["semantics"]["eventName"] == "Jazz Night"
        assert pass_json["semantics"]["seats"] == [
            {"seatSection": "B", "seatRow": "4", "seatNumber": "7"}
        ]
    if style == "boardingPass":
        assert pass_json["boardingPass"]["transitType"] == "PKTransitTypeAir"

    claims = verified_claims(save_jwt(demo, pass_id), fake_google_server)
    assert claims["typ"] == "savetowallet"
    [saved] = claims["payload"][f"{google_kind}Objects"]
    assert saved["id"] == object_id(pass_id)
    assert saved["classId"] == f"{DEMO_ISSUER_ID}.demo-{name}"
    # Google holds the object the link names, rendered from the pass's data.
    held = fake_google.object(object_id(pass_id))
    assert held is not None
    if name == "stamps":  # the hero image's URL picked by stamp count, as Apple's strip is
        uri = held["resource"]["heroImage"]["sourceUri"]["uri"]
        assert uri == "https://example.com/demo-coffee/stamps-2.png"
    if name == "gift":
        assert held["resource"]["balance"] == {"currencyCode": "EUR", "micros": 0}


def strip_image(count: int) -> bytes:
    return (PASSTYPES / "stamps" / "apple" / "images" / f"stamps-{count}.png").read_bytes()


def test_a_stamp_more_changes_the_strip_and_pushes_once(
    demo: ApiClient, fake_apns: FakeApnsControl, apple_pki: ApplePki, tmp_path: Path
) -> None:
    pass_id = create(demo, "stamps", {"additionalData": {"stamps": 1}})
    first = verified_files(download_pkpass(demo, pass_id).content, apple_pki, tmp_path / "1")
    assert json.loads(first["manifest.json"])["strip.png"] == sha1(strip_image(1))
    assert first["strip.png"] == strip_image(1)

    token = json.loads(first["pass.json"])["authenticationToken"]
    device = WalletDevice(demo.base_url, pass_id, token)
    assert device.register().status_code == 201

    changed = update_pass(demo, pass_id, {"additionalData": {"stamps": 2}})
    assert changed["status"] == "completed", changed
    assert changed["counters"]["apple"]["pushed"] == 1
    assert len(fake_apns.pushes(device.push_token)) == 1
    fetched = device.fetch()
    assert fetched.status_code == 200, fetched.text
    second = verified_files(fetched.content, apple_pki, tmp_path / "2")
    manifest = json.loads(second["manifest.json"])
    assert manifest["strip.png"] == sha1(strip_image(2))
    assert manifest["strip@3x.png"] == sha1(
        (PASSTYPES / "stamps" / "apple" / "images" / "stamps-2@3x.png").read_bytes()
    )

    # The same count again renders the same pass: nothing signed, nothing pushed.
    same = update_pass(demo, pass_id, {"additionalData": {"stamps": 2}})
    assert same["counters"]["unchanged"] == 1
    assert len(fake_apns.pushes(device.push_token)) == 1

    # Deleted, the pass is voided; the device fetches the voided version with its strip.
    response = demo.session.delete(demo.url(f"/passes/{pass_id}"), timeout=10)
    assert response.status_code == 202, response.text
    assert demo.wait_for_final(response.json()["correlationId"])["status"] == "completed"
    voided = device.fetch()
    assert voided.status_code == 200, voided.text
    last = verified_files(voided.content, apple_pki, tmp_path / "voided")
    assert json.loads(last["pass.json"])["voided"] is True
    assert json.loads(last["manifest.json"])["strip.png"] == sha1(strip_image(2))


def test_the_gift_card_shows_its_balance_on_both_wallets(
    demo: ApiClient,
    apple_pki: ApplePki,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
    tmp_path: Path,
) -> None:
    pass_id = create(demo, "gift", {"identifiers": {"card": "GC-2"}})
    body = {"delta": 2500, "currency": "EUR", "reference": "load"}
    loaded = demo.session.post(demo.url(f"/passes/{pass_id}/balance"), json=body, timeout=10)
    assert loaded.status_code == 200, loaded.text
    assert demo.wait_for_final(loaded.json()["correlationId"])["status"] == "completed"

    files = verified_files(download_pkpass(demo, pass_id).content, apple_pki, tmp_path)
    [header] = json.loads(files["pass.json"])["storeCard"]["headerFields"]
    assert (header["value"], header["currencyCode"]) == (25.0, "EUR")

    verified_claims(save_jwt(demo, pass_id), fake_google_server)
    held = fake_google.object(object_id(pass_id))
    assert held is not None
    assert held["resource"]["balance"] == {"currencyCode": "EUR", "micros": 25_000_000}
    assert held["resource"]["cardNumber"] == "GC-2"
