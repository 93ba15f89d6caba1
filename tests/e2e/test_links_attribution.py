"""Reach and insight end to end (HTTP → Redis → the real worker → MongoDB → fake Google):
a campaign creates a pass with links, its customer clicks them, the wallets install it and
the installs are credited to the campaign's medium and tags; several passes download as one
`.pkpasses` bundle or one Save link; a scanned barcode finds its pass without redeeming it."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from dev.fake_google import FakeGoogleControl
from shared.infra.ids import new_pass_id

# Helpers of the Google end-to-end tests: the same verification of a Save link.
from tests.e2e.test_google_wallet import SAVE_PREFIX, object_id, verified_claims
from tests.support.api_client import ApiClient
from tests.support.apple import (
    PUBLIC_URL,
    ApplePki,
    WalletDevice,
    check_manifest,
    create_pass,
    openssl_verify,
    unpack,
)
from tests.support.google import FakeGoogleProcess
from tests.support.google_tenants import DEMO_ISSUER_ID

pytestmark = pytest.mark.usefixtures("worker")
CLASS_ID = f"{DEMO_ISSUER_ID}.demo-loyalty"
CAMPAIGN = {"medium": "email", "tags": ["march-email", "vip"]}


def _follow(api_url: str, link: str) -> requests.Response:
    """A customer's click: the links name the public URL, the test reaches the API directly."""
    assert link.startswith(PUBLIC_URL)
    return requests.get(api_url + link.removeprefix(PUBLIC_URL), allow_redirects=False, timeout=30)


def _verify_pkpass(body: bytes, apple_pki: ApplePki, workdir: Path) -> dict[str, bytes]:
    files = unpack(body)
    check_manifest(files)
    verified = openssl_verify(files["signature"], files["manifest.json"], apple_pki.root, workdir)
    assert verified.returncode == 0, verified.stderr
    return files


def _installs(demo: ApiClient, by: str, **params: str) -> dict[Any, dict[str, int]]:
    response = demo.session.get(
        demo.url("/passes/stats/installs"), params={"by": by, **params}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {row.pop("key"): row for row in response.json()["installs"]}


def test_campaign_links_are_clicked_and_installs_credited(  # noqa: PLR0917 - pytest injects fixtures by name
    api_url: str,
    demo: ApiClient,
    db: Any,
    apple_pki: ApplePki,
    tmp_path: Path,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
) -> None:
    tag = f"march-{secrets.token_hex(3)}"  # this test's own campaign, whatever ran before
    wanted = {"medium": "email", "tags": [tag, "vip"], "expiresInDays": 14}
    response = demo.create_pass("loyalty", identifiers={"crm": "M-1"}, links=wanted)
    assert response.status_code == 202, response.text
    accepted = response.json()
    pass_id, links = accepted["passId"], accepted["links"]
    assert set(links) == {"url", "apple", "google", "expiresAt"}
    assert demo.wait_for_final(accepted["correlationId"])["status"] == "completed"

    page = _follow(api_url, links["url"])
    assert page.status_code == 200 and "Add to Apple Wallet" in page.text

    # The Apple link serves a .pkpass that verifies; the Google link a Save JWT that does.
    apple = _follow(api_url, links["apple"])
    assert apple.status_code == 200, apple.text
    assert apple.headers["Content-Type"] == "application/vnd.apple.pkpass"
    files = _verify_pkpass(apple.content, apple_pki, tmp_path / "single")
    google = _follow(api_url, links["google"])
    assert google.status_code == 302, google.text
    claims = verified_claims(
        google.headers["Location"].removeprefix(SAVE_PREFIX), fake_google_server
    )
    assert claims["payload"]["loyaltyObjects"][0]["id"] == object_id(pass_id)

    clicks = list(db.install_clicks.find({"passId": pass_id}, {"_id": 0}).sort("at", 1))
    assert [(c["wallet"], c["medium"], c["tags"]) for c in clicks] == [
        ("apple", "email", [tag, "vip"]),
        ("google", "email", [tag, "vip"]),
    ]

    # The device registers (PassKit web service), Google calls back: both installs credited.
    token = json.loads(files["pass.json"])["authenticationToken"]
    device = WalletDevice(api_url, pass_id, token)
    assert device.register().status_code == 201
    saved = fake_google.send_callback(
        f"{api_url}/google/demo/callbacks", class_id=CLASS_ID, object_id=object_id(pass_id)
    )
    assert saved["status"] == 200, saved
    by_tag = _installs(demo, "tag")
    assert by_tag[tag] == {"apple": 1, "google": 1, "total": 2}
    assert by_tag["vip"]["total"] >= 2
    assert _installs(demo, "medium")["email"]["total"] >= 2
    attributed = list(db.install_attributions.find({"passId": pass_id}, {"_id": 0}))
    assert {(a["wallet"], a["medium"], tuple(a["tags"])) for a in attributed} == {
        ("apple", "email", (tag, "vip")),
        ("google", "email", (tag, "vip")),
    }
    # The date range bounds the count: nothing from before the campaign's clicks.
    first_click = clicks[0]["at"]
    first_click = first_click if first_click.tzinfo else first_click.replace(tzinfo=UTC)
    before = (first_click - timedelta(days=1)).isoformat()
    assert tag not in _installs(demo, "tag", to=before)

    # A click older than the window (24 h) is not credited: a second device installs.
    db.install_clicks.update_many(
        {"passId": pass_id}, {"$set": {"at": clicks[0]["at"] - timedelta(hours=25)}}
    )
    assert WalletDevice(api_url, pass_id, token).register().status_code == 201
    assert _installs(demo, "tag")[tag] == {"apple": 1, "google": 1, "total": 2}

    # Erasing the pass (GDPR) takes its clicks and credited installs with it.
    erased = demo.session.delete(demo.url(f"/passes/{pass_id}"), params={"erase": "true"})
    assert erased.status_code == 202, erased.text
    assert demo.wait_for_final(erased.json()["correlationId"])["status"] == "completed"
    assert db.install_attributions.count_documents({"passId": pass_id}) == 0
    assert db.install_clicks.count_documents({"passId": pass_id}) == 0


def _issue(demo: ApiClient, count: int) -> list[str]:
    return [
        create_pass(demo, identifiers={"crm": f"F-{secrets.token_hex(4)}"}) for _ in range(count)
    ]


def test_several_passes_in_one_download(  # noqa: PLR0917 - pytest injects fixtures by name
    api_url: str,
    demo: ApiClient,
    db: Any,
    apple_pki: ApplePki,
    tmp_path: Path,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
) -> None:
    family = _issue(demo, 3)
    listed = ",".join(family)

    bundle = demo.session.get(demo.url(f"/passes/{listed}"), params={"device": "apple"}, timeout=30)
    assert bundle.status_code == 200, bundle.text
    assert bundle.headers["Content-Type"] == "application/vnd.apple.pkpasses"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert archive.namelist() == [f"{pass_id}.pkpass" for pass_id in family]
        for pass_id in family:
            files = _verify_pkpass(archive.read(f"{pass_id}.pkpass"), apple_pki, tmp_path / pass_id)
            assert json.loads(files["pass.json"])["serialNumber"] == pass_id

    # One Save link carries the three objects; one Google does not hold yet is sent first.
    fake_google.reset()
    db.passes.update_many({"_id": {"$in": family}}, {"$set": {"google.syncedHash": None}})
    save = demo.session.get(
        demo.url(f"/passes/{listed}"),
        params={"device": "google"},
        allow_redirects=False,
        timeout=30,
    )
    assert save.status_code == 302, save.text
    claims = verified_claims(save.headers["Location"].removeprefix(SAVE_PREFIX), fake_google_server)
    assert claims["payload"] == {
        "loyaltyObjects": [{"id": object_id(p), "classId": CLASS_ID} for p in family]
    }
    for pass_id in family:
        assert fake_google.object(object_id(pass_id)) is not None

    # One signed page for the three, whose buttons add them all, each click recorded.
    links = demo.session.post(demo.url(f"/passes/{listed}/links"), json=CAMPAIGN, timeout=10)
    assert links.status_code == 200, links.text
    page = _follow(api_url, links.json()["url"])
    assert page.status_code == 200 and page.text.count("<li>") == 3
    assert "Add all to Apple Wallet" in page.text and "Add all to Google Wallet" in page.text
    from_page = _follow(api_url, links.json()["apple"])
    assert from_page.status_code == 200
    assert from_page.headers["Content-Type"] == "application/vnd.apple.pkpasses"
    assert db.install_clicks.count_documents({"passId": {"$in": family}, "wallet": "apple"}) == 3

    # 11 ids, or one of another tenant: refused, nothing served.
    foreign = new_pass_id()
    db.passes.insert_one({"_id": foreign, "tenant": "rival", "passType": "coupon"})
    refused = demo.session.get(
        demo.url(f"/passes/{listed},{foreign}"), params={"device": "apple"}, timeout=10
    )
    assert refused.status_code == 404
    assert refused.json()["errors"] == [{"field": "passId", "reason": f"no such pass: {foreign}"}]
    eleven = ",".join([*family, *(f"x{n:05d}" for n in range(8))])
    too_many = demo.session.get(
        demo.url(f"/passes/{eleven}"), params={"device": "google"}, timeout=10
    )
    assert too_many.status_code == 422 and "Location" not in too_many.headers


def test_a_scanned_barcode_finds_its_pass_and_changes_nothing(demo: ApiClient, db: Any) -> None:
    pass_id = _issue(demo, 1)[0]
    before = db.passes.find_one({"_id": pass_id})
    message = before["apple"]["barcodeMessages"][0]
    found = demo.session.get(demo.url("/passes"), params={"barcode": message}, timeout=10)
    assert found.status_code == 200, found.text
    assert [item["id"] for item in found.json()] == [pass_id]
    assert found.headers["x-pagination-total"] == "1"
    assert db.passes.find_one({"_id": pass_id}) == before  # not redeemed, not touched
    nothing = demo.session.get(demo.url("/passes"), params={"barcode": "no-such-code"}, timeout=10)
    assert nothing.status_code == 200 and nothing.json() == []
