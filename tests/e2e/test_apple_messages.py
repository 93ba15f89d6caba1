"""A campaign's message on iPhones, end to end: HTTP → Redis → the real worker (planner and
batch) → MongoDB → the fake APNs → a simulated Wallet device on the PassKit web service.

Wallet shows a lock-screen alert when a field with a `changeMessage` has a new value in the
pass it fetches; the value is a key its `<lang>.lproj/pass.strings` resolves to the text in
the holder's language. So the device is checked the way Wallet reads the pass: the signature
verifies, the alerting field's value changed, and each language's strings resolve it."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from tests.support.api_client import ApiClient
from tests.support.apple import (
    ApplePki,
    WalletDevice,
    check_manifest,
    download_pkpass,
    issue_apple_pass,
    openssl_verify,
    unpack,
)

pytestmark = pytest.mark.usefixtures("worker")

CONTENT = "Double points this weekend"
FRENCH = "Points doublés ce week-end"
_ENTRY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=\s*"((?:[^"\\]|\\.)*)"\s*;')


def read_strings(data: bytes) -> dict[str, str]:
    """A pass.strings file as Wallet reads it (UTF-16 with a byte order mark)."""
    text = data.decode("utf-16")
    return {json.loads(f'"{key}"'): json.loads(f'"{value}"') for key, value in _ENTRY.findall(text)}


def alerting_fields(pass_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields Wallet announces when their value changes: a changeMessage showing the value."""
    body = pass_json["storeCard"]
    return [
        item
        for group in ("headerFields", "primaryFields", "secondaryFields", "backFields")
        for item in body.get(group, [])
        if "%@" in item.get("changeMessage", "")
    ]


def fetch_verified(device: WalletDevice, pki: ApplePki, workdir: Path) -> dict[str, bytes]:
    fetched = device.fetch()
    assert fetched.status_code == 200, fetched.text
    files = unpack(fetched.content)
    check_manifest(files)
    verified = openssl_verify(files["signature"], files["manifest.json"], pki.root, workdir)
    assert verified.returncode == 0, verified.stderr
    return files


def message_field(files: dict[str, bytes], previous: dict[str, bytes] | None) -> dict[str, Any]:
    """The one alerting field whose value changed since `previous` (Wallet shows a generic
    alert when several do)."""
    now = {f["key"]: f for f in alerting_fields(json.loads(files["pass.json"]))}
    before = (
        {f["key"]: f["value"] for f in alerting_fields(json.loads(previous["pass.json"]))}
        if previous
        else {}
    )
    changed = [f for key, f in now.items() if before.get(key) != f["value"]]
    assert len(changed) == 1, changed
    return changed[0]


def send_campaign(client: ApiClient, pass_ids: list[str], message: dict[str, Any]) -> Any:
    response = client.session.post(
        client.url("/push-updates"),
        json={"filter": {"ids": pass_ids}, "message": message},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return client.wait_for_final(response.json()["correlationId"])


def test_a_message_reaches_every_iphone_in_its_language(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl, apple_pki: ApplePki, *, api_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    first, second = issue_apple_pass(demo, api_url), issue_apple_pass(demo, api_url)
    other_phone = WalletDevice(api_url, second.serial, second.authentication_token)
    devices = [first, second, other_phone]
    for device in devices:
        assert device.register().status_code == 201
    tags = {device.device_id: device.updated_since().json()["lastUpdated"] for device in devices}
    held = {d.device_id: fetch_verified(d, apple_pki, tmp_path / "held") for d in devices}

    message = {"content": CONTENT, "localizedContent": {"fr": FRENCH}}
    for round_number in (1, 2):  # the same text twice must alert twice
        operation = send_campaign(demo, [first.serial, second.serial], message)
        assert operation["status"] == "completed", operation
        counters = operation["counters"]
        # No data changed, yet both passes were re-rendered, signed and pushed.
        assert (counters["succeeded"], counters["unchanged"]) == (2, 0), counters
        assert counters["apple"] == {"pushed": 3, "failed": 0, "unregistered": 0, "notified": 3}
        for device in devices:
            assert len(fake_apns.pushes(device.push_token)) == round_number  # one per device
            listed = device.updated_since(tags[device.device_id])
            assert listed.status_code == 200, listed.text
            assert listed.json()["serialNumbers"] == [device.serial]
            tags[device.device_id] = listed.json()["lastUpdated"]

            workdir = tmp_path / f"{round_number}-{device.device_id}"
            files = fetch_verified(device, apple_pki, workdir)
            alert = message_field(files, held[device.device_id])
            assert alert["changeMessage"] == "%@"
            french = read_strings(files["fr.lproj/pass.strings"])
            english = read_strings(files["en.lproj/pass.strings"])
            assert french[alert["value"]] == FRENCH
            assert english[alert["value"]] == CONTENT
            # The pass type's own translations are still there.
            assert french["Next reward"] == "Prochaine récompense"
            held[device.device_id] = files

    # The earlier message stays readable on the back, newest first.
    back = json.loads(held[first.device_id]["pass.json"])["storeCard"]["backFields"]
    keys = [item["key"] for item in back]
    assert keys[:2] == ["passwire.message", keys[1]] and keys[1].startswith("passwire.message.")
    assert "changeMessage" not in back[1]
    stored = db.passes.find_one({"_id": first.serial})
    assert [m["content"] for m in stored["messages"]] == [CONTENT, CONTENT]
    assert stored["messages"][0]["localizedContent"] == {"fr": FRENCH}

    # The integrator's download serves the same signed parts, strings included.
    download = download_pkpass(demo, first.serial)
    assert download.status_code == 200, download.text
    assert unpack(download.content) == held[first.device_id]


def test_by_identifier_a_message_reaches_the_one_pass_named(
    demo: ApiClient, fake_apns: FakeApnsControl, apple_pki: ApplePki, api_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    device = issue_apple_pass(demo, api_url)
    assert device.register().status_code == 201
    before = fetch_verified(device, apple_pki, tmp_path / "before")
    crm = demo.get_pass(device.serial).json()["identifiers"]["crm"]
    response = demo.session.put(
        demo.url("/passes/notification"),
        params={"id.crm": crm},
        json={"message": {"content": "Your table is ready"}},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.json()["passId"] == device.serial
    operation = demo.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation
    assert operation["counters"]["apple"]["notified"] == 1
    assert len(fake_apns.pushes(device.push_token)) == 1
    after = fetch_verified(device, apple_pki, tmp_path / "after")
    alert = message_field(after, before)
    # No language of its own: every language's strings give the content.
    assert read_strings(after["fr.lproj/pass.strings"])[alert["value"]] == "Your table is ready"
    assert read_strings(after["en.lproj/pass.strings"])[alert["value"]] == "Your table is ready"

    # Deleted, the pass is kept voided for its device, message strings included.
    deletion = demo.session.delete(demo.url(f"/passes/{device.serial}"), timeout=10)
    assert deletion.status_code == 202, deletion.text
    assert demo.wait_for_final(deletion.json()["correlationId"])["status"] == "completed"
    voided = fetch_verified(device, apple_pki, tmp_path / "voided")
    assert json.loads(voided["pass.json"])["voided"] is True
    assert read_strings(voided["en.lproj/pass.strings"])[alert["value"]] == "Your table is ready"


def test_a_message_to_a_pass_without_devices_is_recorded_for_later(
    demo: ApiClient, db: Any, api_url: str
) -> None:
    """No device to push: nothing notified, but the pass carries the message when installed."""
    device = issue_apple_pass(demo, api_url)
    operation = send_campaign(demo, [device.serial], {"content": f"Hi {secrets.token_hex(2)}"})
    assert operation["status"] == "completed", operation
    assert operation["counters"]["apple"] == {"pushed": 0, "failed": 0, "unregistered": 0}
    pass_json = json.loads(unpack(download_pkpass(demo, device.serial).content)["pass.json"])
    assert [f["key"] for f in alerting_fields(pass_json)][-1] == "passwire.message"
    assert len(db.passes.find_one({"_id": device.serial})["messages"]) == 1
