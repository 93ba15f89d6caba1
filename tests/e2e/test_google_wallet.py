"""Google Wallet end to end: HTTP → Redis → the real worker → MongoDB → the fake Google Wallet
API (OAuth2 token endpoint, REST, quotas, signed callbacks) and back.

Create calls Google for nothing; the Save link click inserts the class and the object and
answers a skinny link whose JWT verifies with google-auth's verifier against the service
account's certificate; once saved, updates PATCH only when the rendered object changed;
campaign messages notify at most 3 times a day per object; callbacks are verified,
de-duplicated and recorded as the pass's Google install state.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from google.auth import jwt as google_jwt

from dev.fake_google import FakeGoogleControl
from tests.support.api_client import ApiClient
from tests.support.apple import create_pass, update_pass
from tests.support.google import FakeGoogleProcess, certificates_by_key_id
from tests.support.google_saving import google_callback
from tests.support.google_tenants import DEMO_ISSUER_ID

CLASS_ID = f"{DEMO_ISSUER_ID}.demo-loyalty"
SAVE_PREFIX = "https://pay.google.com/gp/v/save/"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari"


def object_id(pass_id: str) -> str:
    return f"{DEMO_ISSUER_ID}.{pass_id}"


def save_jwt(client: ApiClient, pass_id: str, **headers: str) -> str:
    response = client.session.get(
        client.url(f"/passes/{pass_id}"),
        params={"device": "google"},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(SAVE_PREFIX)
    return location.removeprefix(SAVE_PREFIX)


def verified_claims(token: str, fake_google_server: FakeGoogleProcess) -> dict[str, Any]:
    certs = certificates_by_key_id(fake_google_server.service_account)
    claims: dict[str, Any] = google_jwt.decode(token, certs=certs, audience="google")
    return claims


def push_update(client: ApiClient, pass_id: str, **body: Any) -> dict[str, Any]:
    response = client.session.post(
        client.url("/push-updates"),
        json={"filter": {"ids": [pass_id]}, **body},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return client.wait_for_final(response.json()["correlationId"])


@pytest.mark.usefixtures("worker")
def test_create_save_update_message(
    demo: ApiClient,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
    api_url: str,
) -> None:
    pass_id = create_pass(demo, identifiers={"crm": "G-1"}, additionalData={"points": 7})
    assert fake_google.object(object_id(pass_id)) is None  # nobody went to save it yet

    # The Save link click inserted the class (with our callback URL) and the rendered object,
    # and the JWT names it (skinny: a JWT cannot update an object Google holds).
    claims = verified_claims(save_jwt(demo, pass_id), fake_google_server)
    assert claims["payload"]["loyaltyObjects"] == [{"id": object_id(pass_id), "classId": CLASS_ID}]
    state = fake_google.state(include_log=False)
    google_class = state["classes"][CLASS_ID]["resource"]
    assert google_class["callbackOptions"]["url"].endswith("/google/demo/callbacks")
    stored = fake_google.object(object_id(pass_id))
    assert stored is not None
    resource = stored["resource"]
    assert resource["classId"] == CLASS_ID
    assert resource["accountId"] == "G-1"
    assert resource["loyaltyPoints"]["balance"] == {"string": "7"}
    assert resource["barcode"]["value"] == pass_id
    assert resource["state"] == "ACTIVE"
    google_callback(fake_google, api_url, pass_id, "save")  # saved: its changes reach Google

    # An update that changes the object PATCHes it once; an identical one PATCHes nothing.
    changed = update_pass(demo, pass_id, {"additionalData": {"points": 8}})
    assert changed["counters"]["succeeded"] == 1
    assert changed["counters"]["google"]["patched"] == 1
    stored = fake_google.object(object_id(pass_id))
    assert stored is not None
    assert (stored["patch_count"], stored["resource"]["loyaltyPoints"]["balance"]) == (
        1,
        {"string": "8"},
    )
    same = update_pass(demo, pass_id, {"additionalData": {"points": 8}})
    assert same["counters"]["unchanged"] == 1
    assert same["counters"]["google"]["patched"] == 0
    assert fake_google.object(object_id(pass_id))["patch_count"] == 1  # type: ignore[index]

    # Messages: three notify, the fourth within 24 h goes out silent and is counted.
    counters = []
    for number in range(4):
        operation = push_update(demo, pass_id, message={"content": f"Offer {number}"})
        counters.append(operation["counters"])
    messages = fake_google.object(object_id(pass_id))["messages"]  # type: ignore[index]
    assert [m["messageType"] for m in messages] == ["TEXT_AND_NOTIFY"] * 3 + ["TEXT"]
    assert [c["google"]["notified"] for c in counters] == [1, 1, 1, 0]
    assert [c["google"]["notificationSuppressed"] for c in counters] == [0, 0, 0, 1]
    assert fake_google.counters()["notification_quota_refusals"] == 0


@pytest.mark.usefixtures("worker")
def test_the_save_link_names_the_object_the_click_sent(
    demo: ApiClient, fake_google: FakeGoogleControl, fake_google_server: FakeGoogleProcess
) -> None:
    response = demo.create_pass("mini", metadata={"name": "Ada"})
    assert response.status_code == 202, response.text
    assert demo.wait_for_final(response.json()["correlationId"])["status"] == "completed"
    pass_id = response.json()["passId"]
    # A JWT signed with the service account key, verified the way Google's client library
    # verifies service-account JWTs, naming the object Google now holds, small as it is.
    claims = verified_claims(save_jwt(demo, pass_id), fake_google_server)
    assert claims["iss"] == fake_google_server.service_account.client_email
    assert claims["typ"] == "savetowallet"
    assert claims["origins"] == ["http://127.0.0.1:8000", "http://localhost:8000"]
    stored = fake_google.object(object_id(pass_id))
    assert stored is not None
    reference = {"id": object_id(pass_id), "classId": stored["resource"]["classId"]}
    assert claims["payload"]["genericObjects"] == [reference]
    assert stored["resource"]["header"]["defaultValue"]["value"] == "Ada"


@pytest.mark.usefixtures("worker")
def test_a_skinny_link_first_sends_google_an_object_it_lacks(
    demo: ApiClient,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
    db: Any,
) -> None:
    pass_id = create_pass(demo)
    save_jwt(demo, pass_id)
    # As if Google had lost the object since: the next link must not name a missing object.
    fake_google.reset()
    db.passes.update_one({"_id": pass_id}, {"$set": {"google.syncedHash": None}})
    claims = verified_claims(save_jwt(demo, pass_id), fake_google_server)
    assert claims["payload"]["loyaltyObjects"] == [{"id": object_id(pass_id), "classId": CLASS_ID}]
    assert fake_google.object(object_id(pass_id)) is not None


@pytest.mark.usefixtures("worker")
def test_device_auto_and_preview(demo: ApiClient, fake_google: FakeGoogleControl, db: Any) -> None:
    pass_id = create_pass(demo)
    token = db.passes.find_one({"_id": pass_id})["authenticationToken"]
    url = demo.url(f"/passes/{pass_id}")

    def get(device: str, user_agent: str = "") -> requests.Response:
        return demo.session.get(
            url,
            params={"device": device},
            headers={"User-Agent": user_agent},
            allow_redirects=False,
            timeout=10,
        )

    android = get("auto", ANDROID)
    assert android.status_code == 302
    assert android.headers["Location"].startswith(SAVE_PREFIX)
    iphone = get("auto", IPHONE)
    assert iphone.status_code == 200
    assert iphone.headers["Content-Type"] == "application/vnd.apple.pkpass"

    preview = get("preview")
    assert preview.status_code == 200
    body = preview.json()
    both = demo.session.get(demo.url(f"/passes/{pass_id}/preview"), timeout=10)
    assert both.status_code == 200 and both.json() == body
    assert body["apple"]["serialNumber"] == pass_id
    # The live token would let a reader of the preview register devices: never shown.
    assert token not in preview.text
    assert body["apple"]["authenticationToken"] != token
    assert body["google"]["objectId"] == object_id(pass_id)
    assert body["google"]["object"] == fake_google.object(object_id(pass_id))["resource"]  # type: ignore[index]


def _google_state(api_url: str, demo: ApiClient, pass_id: str) -> Any:
    return demo.get_pass(pass_id).json()["providers"]["google"]


@pytest.mark.usefixtures("worker")
def test_callbacks_are_verified_and_recorded_once(
    demo: ApiClient, fake_google: FakeGoogleControl, api_url: str, db: Any
) -> None:
    pass_id = create_pass(demo)
    callback_url = f"{api_url}/google/demo/callbacks"
    target = {"class_id": CLASS_ID, "object_id": object_id(pass_id)}

    for tamper in ("signature", "message", "intermediate", "unsigned"):
        refused = fake_google.send_callback(callback_url, **target, tamper=tamper)
        assert refused["status"] == 401, (tamper, refused)
    # Signed for another issuer's recipient id: not ours.
    other = fake_google.send_callback(callback_url, **target, recipient_id="3388000000099999999")
    assert other["status"] == 401
    unsigned = requests.post(callback_url, json={"signedMessage": "{}"}, timeout=10)
    assert unsigned.status_code in (400, 401)
    assert _google_state(api_url, demo, pass_id) is None

    saved = fake_google.send_callback(callback_url, **target, event_type="save")
    assert saved["status"] == 200, saved
    installed = _google_state(api_url, demo, pass_id)
    assert installed is not None and installed["installedAt"]
    # Google repeats the same callback (same nonce): recorded once, nothing changes.
    repeat = fake_google.send_callback(
        callback_url, **target, event_type="save", nonce=saved["nonce"]
    )
    assert repeat["status"] == 200
    assert _google_state(api_url, demo, pass_id) == installed
    assert (
        db.google_callbacks.count_documents({"tenant": "demo", "objectId": target["object_id"]})
        == 1
    )

    deleted = fake_google.send_callback(callback_url, **target, event_type="del")
    assert deleted["status"] == 200
    assert _google_state(api_url, demo, pass_id) is None
    document = db.passes.find_one({"_id": pass_id})
    assert document["providers"]["googleUninstalledAt"] is not None


def test_callbacks_for_a_tenant_without_google_are_404(api_url: str) -> None:
    response = requests.post(f"{api_url}/google/rival/callbacks", json={}, timeout=10)
    assert response.status_code == 404
    assert response.json()["status"] == 404
