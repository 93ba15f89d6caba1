"""An Apple Wallet device, simulated end to end: a CRM issues a pass, the device downloads and
verifies it, registers for updates, gets a push through the fake APNs when the pass changes,
fetches the new version, and unregisters."""

from __future__ import annotations

import json
import secrets
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from tests.support.api_client import ApiClient
from tests.support.apple import (
    PASS_TYPE_IDENTIFIER,
    PKPASS_TYPE,
    PUBLIC_URL,
    ApplePki,
    WalletDevice,
    check_manifest,
    create_pass,
    download_pkpass,
    header_value,
    issue_apple_pass,
    openssl_verify,
    sha1,
    unpack,
    update_pass,
)

pytestmark = pytest.mark.usefixtures("worker")

NO_PUSH = {"pushed": 0, "failed": 0, "unregistered": 0}


def registrations_of(db: Any, device: WalletDevice) -> list[dict[str, Any]]:
    return list(db.registrations.find({"deviceLibraryIdentifier": device.device_id}))


def verified_pass_json(content: bytes, pki: ApplePki, workdir: Path) -> dict[str, Any]:
    """Unzip a .pkpass, check its manifest and signature the way Wallet does; its pass.json."""
    files = unpack(content)
    assert {"pass.json", "manifest.json", "signature", "icon.png"} <= set(files), sorted(files)
    check_manifest(files)
    verified = openssl_verify(files["signature"], files["manifest.json"], pki.root, workdir)
    assert verified.returncode == 0, verified.stderr
    document: dict[str, Any] = json.loads(files["pass.json"])
    return document


def assert_pkpass_headers(headers: Any) -> str:
    assert headers["Content-Type"].split(";")[0].strip() == PKPASS_TYPE
    last_modified = headers["Last-Modified"]
    parsedate_to_datetime(last_modified)  # an HTTP date
    return str(last_modified)


def test_device_simulation(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl, apple_pki: ApplePki, tmp_path: Path
) -> None:
    # A CRM issues a pass with 10 points and downloads it for Apple Wallet.
    crm = f"C-{secrets.token_hex(4)}"
    pass_id = create_pass(
        demo, identifiers={"crm": crm}, metadata={"store": "42"}, additionalData={"points": 10}
    )
    download = download_pkpass(demo, pass_id)
    assert download.status_code == 200, download.text
    first_last_modified = assert_pkpass_headers(download.headers)
    assert download.headers["ETag"]

    files = unpack(download.content)
    first = verified_pass_json(download.content, apple_pki, tmp_path / "first")
    assert first["serialNumber"] == pass_id
    assert first["passTypeIdentifier"] == PASS_TYPE_IDENTIFIER
    assert first["webServiceURL"] == f"{PUBLIC_URL}/apple/demo"
    assert len(first["authenticationToken"]) >= 16
    assert header_value(first, "points") == 10

    # Tampering: pass.json changed and manifest.json made to match it no longer verifies.
    manifest = json.loads(files["manifest.json"])
    manifest["pass.json"] = sha1(files["pass.json"] + b" ")
    tampered = openssl_verify(
        files["signature"], json.dumps(manifest).encode(), apple_pki.root, tmp_path / "tampered"
    )
    assert tampered.returncode != 0
    assert "verification failure" in tampered.stderr.lower()

    # Without ?device the pass is the JSON document it always was.
    shown = demo.get_pass(pass_id)
    assert shown.status_code == 200
    assert shown.json()["additionalData"] == {"points": 10}
    assert "authenticationToken" not in shown.json()

    # The device registers with the token from pass.json and notes the update tag.
    device = WalletDevice(demo.base_url, pass_id, first["authenticationToken"])
    registered = device.register()
    assert registered.status_code == 201, registered.text
    [registration] = registrations_of(db, device)
    assert registration["pushToken"] == device.push_token
    assert registration["serialNumber"] == pass_id
    listed = device.updated_since()
    assert listed.status_code == 200, listed.text
    assert listed.json()["serialNumbers"] == [pass_id]
    tag = listed.json()["lastUpdated"]

    # The CRM changes the points: the device gets one push, on the pass type's topic.
    operation = update_pass(demo, pass_id, {"additionalData": {"points": 42}})
    assert operation["status"] == "completed", operation
    assert operation["counters"]["unchanged"] == 0
    assert operation["counters"]["apple"] == {"pushed": 1, "failed": 0, "unregistered": 0}
    [push] = fake_apns.pushes(device.push_token)
    assert push["topic"] == PASS_TYPE_IDENTIFIER
    # A merge patch: what the body did not name is kept.
    after = demo.get_pass(pass_id).json()
    assert after["additionalData"] == {"points": 42}
    assert after["identifiers"] == {"crm": crm}
    assert after["metadata"] == {"store": "42"}

    # Woken by the push, the device asks what changed since its tag, then fetches the pass.
    changed = device.updated_since(tag)
    assert changed.status_code == 200, changed.text
    assert changed.json()["serialNumbers"] == [pass_id]
    assert int(changed.json()["lastUpdated"]) > int(tag)

    # The device asks with the Last-Modified of the version it holds: changed, so a 200,
    # even when the update came within the same second as the first version.
    fetched = device.fetch(if_modified_since=first_last_modified)
    assert fetched.status_code == 200, fetched.text
    last_modified = assert_pkpass_headers(fetched.headers)
    second = verified_pass_json(fetched.content, apple_pki, tmp_path / "second")
    assert second["serialNumber"] == pass_id
    assert header_value(second, "points") == 42
    device.authentication_token = second["authenticationToken"]

    not_modified = device.fetch(if_modified_since=last_modified)
    assert not_modified.status_code == 304
    assert not_modified.content == b""

    # Once unregistered, the device hears nothing of further changes.
    assert device.unregister().status_code == 200
    assert registrations_of(db, device) == []
    change = {"additionalData": {"points": 43}, "metadata": {"store": None}}
    operation = update_pass(demo, pass_id, change)
    assert operation["status"] == "completed", operation
    assert operation["counters"]["unchanged"] == 0
    assert operation["counters"]["apple"] == NO_PUSH
    assert len(fake_apns.pushes(device.push_token)) == 1
    after = demo.get_pass(pass_id).json()
    assert after["additionalData"] == {"points": 43}
    assert "store" not in after.get("metadata", {})  # null removes a key


def test_wrong_or_missing_apple_pass_token_is_401(demo: ApiClient, db: Any, api_url: str) -> None:
    device = issue_apple_pass(demo, api_url)
    other = issue_apple_pass(demo, api_url)
    refused = {
        "missing": {},
        "wrong": device.auth("wrong-token-wrong-token-wrong"),
        "another pass's": device.auth(other.authentication_token),
        "another scheme": {"Authorization": f"Bearer {device.authentication_token}"},
    }
    for name, headers in refused.items():
        response = device.register(headers=headers)
        assert response.status_code == 401, f"{name} token: {response.status_code}"
        assert response.json()["code"] == "unauthorized"
        assert device.fetch(headers=headers).status_code == 401, f"{name} token on fetch"
    assert registrations_of(db, device) == []

    assert device.register().status_code == 201
    assert device.fetch().status_code == 200


def test_unchanged_update_pushes_nothing(
    demo: ApiClient, fake_apns: FakeApnsControl, api_url: str
) -> None:
    device = issue_apple_pass(demo, api_url, points=10)
    assert device.register().status_code == 201
    tag = device.updated_since().json()["lastUpdated"]

    operation = update_pass(demo, device.serial, {"additionalData": {"points": 10}})
    assert operation["status"] == "completed", operation
    assert operation["counters"]["unchanged"] == 1
    assert operation["counters"]["apple"] == NO_PUSH
    assert fake_apns.pushes(device.push_token) == []
    # Nothing changed for the device either.
    assert device.updated_since(tag).status_code == 204
