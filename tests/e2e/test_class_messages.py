"""Class-wide Google messages end to end: HTTP → Redis → the real worker → MongoDB → the fake
Google Wallet API. A message to every pass of a pass type is one class addMessage and no
object message, and the operation counts it so; a narrower segment gets one per object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from tests.support.api_client import ApiClient
from tests.support.apple import WalletDevice, download_pkpass, pass_json_of, unpack
from tests.support.bulletin import BULLETIN
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID

pytestmark = pytest.mark.usefixtures("worker")

PASS_TYPE = "mini"  # Google-only: its passes' objects are in one class
CLASS_ID = f"{DEMO_ISSUER_ID}.demo-{PASS_TYPE}"  # the default class suffix: <tenant>-<pass type>


def mini_passes(
    demo: ApiClient, count: int, fake_google: FakeGoogleControl, api_url: str
) -> list[str]:
    """`count` passes, each saved in Google Wallet (so Google holds an object to show on)."""
    ids = []
    for number in range(count):
        response = demo.create_pass(PASS_TYPE, metadata={"name": f"Holder {number}"})
        assert response.status_code == 202, response.text
        assert demo.wait_for_final(response.json()["correlationId"])["status"] == "completed"
        ids.append(response.json()["passId"])
        save_in_google_wallet(demo, fake_google, api_url, ids[-1], class_id=CLASS_ID)
    return ids


def campaign(demo: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = demo.session.post(demo.url("/push-updates"), json=body, timeout=10)
    assert response.status_code == 202, response.text
    operation = demo.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation
    return operation


def message_calls(fake_google: FakeGoogleControl) -> tuple[list[str], list[str]]:
    """The addMessage calls the fake Google logged: (on classes, on objects)."""
    paths = [entry["path"] for entry in fake_google.state()["log"] if entry["method"] == "POST"]
    added = [path for path in paths if path.endswith("/addMessage")]
    return [p for p in added if "Class/" in p], [p for p in added if "Object/" in p]


def test_a_message_to_a_whole_pass_type_is_one_class_message(
    demo: ApiClient, fake_google: FakeGoogleControl, db: Any, api_url: str
) -> None:
    created = mini_passes(demo, 3, fake_google, api_url)
    everyone = db.passes.count_documents({"tenant": "demo", "passType": PASS_TYPE})
    body = {"filter": {"passType": [PASS_TYPE]}, "message": {"content": "Open at 10 tomorrow"}}
    operation = campaign(demo, body)
    correlation_id = operation["correlationId"]

    on_classes, on_objects = message_calls(fake_google)
    class_id = CLASS_ID
    assert on_classes == [f"/walletobjects/v1/genericClass/{class_id}/addMessage"]
    assert on_objects == []
    sent = fake_google.state(include_log=False)["classes"][class_id]["messages"]
    assert [(m["id"], m["messageType"]) for m in sent] == [(correlation_id, "TEXT_AND_NOTIFY")]
    for pass_id in created:  # Google shows it on every object of the class, none of their own
        assert fake_google.object(f"{DEMO_ISSUER_ID}.{pass_id}")["messages"] == []  # type: ignore[index]

    counters = operation["counters"]
    assert counters["total"] == everyone
    assert counters["google"]["classMessages"] == 1
    assert counters["google"]["classNotified"] == 1
    assert counters["google"]["notified"] == 0
    assert counters["google"]["notificationSuppressed"] == 0
    decision = db.operations.find_one({"_id": correlation_id})["googleMessage"]
    assert (decision["by"], decision["state"], decision["classId"]) == ("class", "sent", class_id)


def bulletin_holder(demo: ApiClient, api_url: str) -> WalletDevice:
    """A pass of the bulletin type (Apple and Google) on a registered iPhone."""
    response = demo.create_pass(BULLETIN, identifiers={"crm": "C-1"})
    assert response.status_code == 202, response.text
    assert demo.wait_for_final(response.json()["correlationId"])["status"] == "completed"
    pass_id = response.json()["passId"]
    token = pass_json_of(download_pkpass(demo, pass_id))["authenticationToken"]
    device = WalletDevice(api_url, pass_id, token)
    assert device.register().status_code == 201
    return device


def test_iphones_still_get_the_message_per_pass(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, fake_google: FakeGoogleControl
) -> None:
    devices = [bulletin_holder(demo, api_url) for _ in range(2)]
    body = {"filter": {"passType": [BULLETIN]}, "message": {"content": "Closed on Monday"}}
    operation = campaign(demo, body)
    correlation_id = operation["correlationId"]

    counters = operation["counters"]
    assert counters["total"] == 2
    assert (counters["apple"]["pushed"], counters["apple"]["notified"]) == (2, 2)
    assert counters["google"]["classMessages"] == 1
    assert counters["google"]["notified"] == 0
    for device in devices:  # each iPhone: one push, the pass's message field alerting
        assert len(fake_apns.pushes(device.push_token)) == 1
        fetched = device.fetch()
        back = json.loads(unpack(fetched.content)["pass.json"])["storeCard"]["backFields"]
        [field] = [item for item in back if item["key"] == "passwire.message"]
        assert "%@" in field["changeMessage"]
        assert field["value"] == f"msg-{correlation_id}"
    on_classes, on_objects = message_calls(fake_google)
    class_id = f"{DEMO_ISSUER_ID}.demo-{BULLETIN}"
    assert on_classes == [f"/walletobjects/v1/loyaltyClass/{class_id}/addMessage"]
    assert on_objects == []


def test_a_narrower_segment_gets_one_message_per_object(
    demo: ApiClient, fake_google: FakeGoogleControl, db: Any, api_url: str
) -> None:
    created = mini_passes(demo, 2, fake_google, api_url)
    body = {
        "filter": {"passType": [PASS_TYPE], "ids": created},
        "message": {"content": "Your table is ready"},
    }
    operation = campaign(demo, body)

    on_classes, on_objects = message_calls(fake_google)
    assert on_classes == []
    assert sorted(on_objects) == sorted(
        f"/walletobjects/v1/genericObject/{DEMO_ISSUER_ID}.{pass_id}/addMessage"
        for pass_id in created
    )
    counters = operation["counters"]
    assert counters["google"]["notified"] == 2
    assert counters["google"].get("classMessages", 0) == 0
    decision = db.operations.find_one({"_id": operation["correlationId"]})["googleMessage"]
    assert decision["by"] == "objects"
    assert decision["why"] == "the segment is not every pass of one pass type"


def test_the_preview_says_the_message_would_go_to_the_class(
    demo: ApiClient, fake_google: FakeGoogleControl, api_url: str
) -> None:
    mini_passes(demo, 1, fake_google, api_url)
    body = {
        "filter": {"passType": [PASS_TYPE]},
        "message": {"content": "Open at 10 tomorrow"},
        "dryRun": True,
    }
    response = demo.session.post(demo.url("/push-updates"), json=body, timeout=30)
    assert response.status_code == 200, response.text
    google = response.json()["preview"]["google"]
    assert google["classMessage"] == {"classId": CLASS_ID}
    assert google["alerts"] == 0  # no object message of its own
