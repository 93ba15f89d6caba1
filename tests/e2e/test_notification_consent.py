"""The consent matrix end to end: a marketing campaign over passes whose holders granted,
refused or never gave marketing consent, each on an iPhone and in Google Wallet. HTTP → Redis
→ the real worker → MongoDB → the fake APNs and the fake Google Wallet API.

Only the holder who granted consent is alerted (an alerting field on the iPhone,
TEXT_AND_NOTIFY on Google); every holder gets the data update and the message, silently; the
counters say so by reason."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from tests.support.api_client import ApiClient
from tests.support.apple import WalletDevice, create_pass, download_pkpass, pass_json_of, unpack
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID

pytestmark = pytest.mark.usefixtures("worker")

CONSENTS: dict[str, Any] = {
    "granted": {"marketing": {"granted": True, "source": "signup-form"}},
    "refused": {"marketing": {"granted": False, "source": "signup-form"}},
    "never": None,
}


def holder(
    demo: ApiClient, api_url: str, consent: Any, fake_google: FakeGoogleControl
) -> WalletDevice:
    """A loyalty pass issued with `consent` (none: never asked), on a registered iPhone, and
    saved in Google Wallet."""
    body: dict[str, Any] = {"identifiers": {"crm": f"C-{secrets.token_hex(4)}"}}
    body["additionalData"] = {"points": 10}
    if consent is not None:
        body["consent"] = consent
    pass_id = create_pass(demo, **body)
    token = pass_json_of(download_pkpass(demo, pass_id))["authenticationToken"]
    device = WalletDevice(api_url, pass_id, token)
    assert device.register().status_code == 201
    save_in_google_wallet(demo, fake_google, api_url, pass_id)
    return device


def message_field(device: WalletDevice) -> dict[str, Any]:
    fetched = device.fetch()
    assert fetched.status_code == 200, fetched.text
    back = json.loads(unpack(fetched.content)["pass.json"])["storeCard"]["backFields"]
    [field] = [item for item in back if item["key"] == "passwire.message"]
    return field


def test_a_marketing_message_alerts_only_holders_who_granted_consent(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, fake_google: FakeGoogleControl
) -> None:
    devices = {
        name: holder(demo, api_url, consent, fake_google) for name, consent in CONSENTS.items()
    }
    body = {
        "filter": {"ids": [device.serial for device in devices.values()]},
        "data": {"additionalData": {"points": 11}},
        "message": {"content": "Double points this weekend", "kind": "marketing"},
    }
    response = demo.session.post(demo.url("/push-updates"), json=body, timeout=10)
    assert response.status_code == 202, response.text
    correlation_id = response.json()["correlationId"]
    operation = demo.wait_for_final(correlation_id)

    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert counters["succeeded"] == 3
    assert counters["apple"]["pushed"] == 3  # everyone's pass changed: the data, the message
    assert counters["apple"]["notified"] == 1
    assert counters["apple"]["notificationSuppressed"] == 2
    assert (counters["google"]["notified"], counters["google"]["notificationSuppressed"]) == (1, 2)
    assert counters["suppressed"] == {"consent": 2, "budget": 0, "quietHours": 0}
    assert counters["deferred"] == 0

    for name, device in devices.items():
        assert len(fake_apns.pushes(device.push_token)) == 1, name
        field = message_field(device)
        # The granted holder's field alerts; the others change silently (no changeMessage).
        assert ("changeMessage" in field) == (name == "granted"), (name, field)
        assert field["value"] == f"msg-{correlation_id}"
        assert demo.get_pass(device.serial).json()["additionalData"]["points"] == 11
        google = fake_google.object(f"{DEMO_ISSUER_ID}.{device.serial}")
        assert google is not None
        assert google["resource"]["loyaltyPoints"]["balance"] == {"string": "11"}
        sent = [(m["id"], m["messageType"]) for m in google["messages"]]
        expected = "TEXT_AND_NOTIFY" if name == "granted" else "TEXT"
        assert sent == [(correlation_id, expected)], name

    # The consent given at create is on record, with who gave it and how.
    trail = demo.session.get(demo.url(f"/passes/{devices['granted'].serial}/consent"), timeout=10)
    [change] = trail.json()["history"]
    assert (change["via"], change["who"], change["marketing"]["source"]) == (
        "create",
        "config-key:local-demo",
        "signup-form",
    )


def test_a_transactional_message_alerts_every_holder(
    demo: ApiClient, api_url: str, fake_google: FakeGoogleControl
) -> None:
    devices = [holder(demo, api_url, consent, fake_google) for consent in CONSENTS.values()]
    body = {
        "filter": {"ids": [device.serial for device in devices]},
        "message": {"content": "Your order is ready"},  # kind: transactional by default
    }
    response = demo.session.post(demo.url("/push-updates"), json=body, timeout=10)
    operation = demo.wait_for_final(response.json()["correlationId"])
    counters = operation["counters"]
    assert counters["apple"]["notified"] == 3
    assert counters["google"]["notified"] == 3
    assert counters["suppressed"] == {"consent": 0, "budget": 0, "quietHours": 0}
    assert all("changeMessage" in message_field(device) for device in devices)
