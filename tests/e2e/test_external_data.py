"""External data from the demo tenant's CRM provider (the fake CRM of the session): rendered
into `member` passes by the worker, shown live by `GET .../data`, never stored."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from typing import Any

import pytest

from tests.support.api_client import ApiClient
from tests.support.crm import RunningCrm

pytestmark = pytest.mark.usefixtures("worker")


def _pkpass_points(demo: ApiClient, pass_id: str) -> Any:
    response = demo.session.get(demo.url(f"/passes/{pass_id}"), params={"device": "apple"})
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as package:
        pass_json = json.loads(package.read("pass.json"))
    (header,) = pass_json["storeCard"]["headerFields"]
    return header["value"]


def _scan(db: Any, pass_id: str, correlation_ids: list[str]) -> list[str]:
    """Every stored document about the pass, as text; the signed Apple package (which shows
    what the pass displays) apart."""
    texts: list[str] = []
    for document in db.passes.find({"_id": pass_id}):
        apple = document.get("apple") or {}
        for signed in ("passJson", "manifest", "signature"):
            apple.pop(signed, None)
        texts.append(repr(document))
    texts.extend(repr(op) for op in db.operations.find({"_id": {"$in": correlation_ids}}))
    texts.extend(repr(event) for event in db.webhook_events.find({"data.passId": pass_id}))
    return texts


def test_member_pass_renders_crm_data_that_is_never_stored(
    demo: ApiClient, db: Any, fake_crm: RunningCrm
) -> None:
    crm = fake_crm.crm
    customer = f"C-{secrets.token_hex(4)}/ä"  # encoded into the URL path
    first_name = f"Zephyrine{secrets.token_hex(4)}"
    points = 700_000 + secrets.randbelow(99_999)
    crm.put_customer(customer, {"first_name": first_name, "loyalty": {"points": points}})

    accepted = demo.create_pass("member", identifiers={"crm": customer}).json()
    pass_id = accepted["passId"]
    created = demo.wait_for_final(accepted["correlationId"])
    assert created["status"] == "completed", created
    assert _pkpass_points(demo, pass_id) == points

    # Live data for the caller; the stored document without its secrets.
    data = demo.session.get(demo.url(f"/passes/{pass_id}/data"), timeout=10)
    assert data.status_code == 200, data.text
    body = data.json()
    assert body["id"] == pass_id and body["identifiers"] == {"crm": customer}
    assert body["external"] == {"firstName": first_name, "points": points}
    assert body["externalErrors"] == {} and body["externalSkipped"] == []
    raw = demo.session.get(demo.url(f"/passes/{pass_id}/data/raw"), timeout=10)
    assert raw.status_code == 200, raw.text
    stored = raw.json()
    assert stored["document"]["_id"] == pass_id
    assert "authenticationToken" not in stored["document"]
    assert db.passes.find_one({"_id": pass_id})["authenticationToken"] not in raw.text
    assert {"passJson", "manifest", "signature"}.isdisjoint(stored["document"]["apple"])
    assert set(stored["omitted"]) >= {"authenticationToken", "apple.passJson"}
    assert first_name not in raw.text and str(points) not in raw.text

    # The CRM changes; an unrelated patch re-renders with the new points.
    crm.put_customer(customer, {"first_name": first_name, "loyalty": {"points": points + 1}})
    patched = demo.session.patch(
        demo.url(f"/passes/{pass_id}"), json={"metadata": {"store": "7"}}, timeout=10
    ).json()
    updated = demo.wait_for_final(patched["correlationId"])
    assert updated["status"] == "completed", updated
    assert updated["counters"]["succeeded"] == 1
    assert _pkpass_points(demo, pass_id) == points + 1

    # The CRM fails for this customer: the update fails naming the provider, nothing changes.
    before = db.passes.find_one({"_id": pass_id})
    crm.configure(fail_ids=[customer])
    try:
        failing = demo.session.patch(
            demo.url(f"/passes/{pass_id}"), json={"metadata": {"store": "8"}}, timeout=10
        ).json()
        failed = demo.wait_for_final(failing["correlationId"])
        live = demo.session.get(demo.url(f"/passes/{pass_id}/data"), timeout=10).json()
    finally:
        crm.configure(fail_ids=[])
    assert failed["status"] == "failed", failed
    assert failed["counters"]["failed"] == 1
    (error,) = failed["errors"]
    assert error["reason"] == "external data provider 'crm': answered HTTP 503"
    assert customer not in json.dumps(failed)
    after = db.passes.find_one({"_id": pass_id})
    assert after["metadata"] == {"store": "7"}
    assert after["apple"]["updateTag"] == before["apple"]["updateTag"]
    assert after["version"] == before["version"]
    assert _pkpass_points(demo, pass_id) == points + 1
    assert live["external"] == {} and live["externalErrors"] == {"crm": "answered HTTP 503"}

    # Nothing stored holds a CRM value (the signed pass.json shows the points it displays).
    ops = [accepted["correlationId"], patched["correlationId"], failing["correlationId"]]
    for text in _scan(db, pass_id, ops):
        assert first_name not in text
        assert str(points) not in text and str(points + 1) not in text


def test_create_fails_when_the_customer_is_unknown(demo: ApiClient, db: Any) -> None:
    accepted = demo.create_pass("member", identifiers={"crm": "C-NOBODY"}).json()
    operation = demo.wait_for_final(accepted["correlationId"])
    assert operation["status"] == "failed"
    (error,) = operation["errors"]
    assert error == {
        "id": accepted["passId"],
        "reason": "external data provider 'crm': customer not found",
    }
    assert db.passes.find_one({"_id": accepted["passId"]}) is None


def test_a_pass_without_the_identifier_renders_without_crm_data(
    demo: ApiClient, fake_crm: RunningCrm
) -> None:
    before = fake_crm.crm.state.requests
    accepted = demo.create_pass("member", identifiers={"other": "x"}).json()
    assert demo.wait_for_final(accepted["correlationId"])["status"] == "completed"
    assert _pkpass_points(demo, accepted["passId"]) == 0  # the template's default
    body = demo.session.get(demo.url(f"/passes/{accepted['passId']}/data"), timeout=10).json()
    assert body["external"] == {} and body["externalSkipped"] == ["crm"]
    assert fake_crm.crm.state.requests == before


def test_data_endpoints_need_pass_read_and_a_known_pass(demo: ApiClient, rival: ApiClient) -> None:
    accepted = demo.create_pass("loyalty").json()
    demo.wait_for_final(accepted["correlationId"])
    for suffix in ("/data", "/data/raw"):
        path = f"/passes/{accepted['passId']}{suffix}"
        assert demo.session.get(demo.url(path), timeout=10).status_code == 200
        assert rival.session.get(rival.url(path), timeout=10).status_code == 404
        assert demo.session.get(demo.url(f"/passes/unknown{suffix}"), timeout=10).status_code == 404
        anonymous = demo.session.get(demo.url(path), headers={"X-API-Key": ""}, timeout=10)
        assert anonymous.status_code == 401


def test_a_campaign_renders_each_pass_with_its_crm_data(
    demo: ApiClient, fake_crm: RunningCrm
) -> None:
    """Campaign batches fetch every pass's external data (bounded concurrency) and render with
    it; a pass whose provider fails is failed with the reason, the others go on."""
    crm = fake_crm.crm
    store = f"S-{secrets.token_hex(4)}"
    customers = [f"C-{secrets.token_hex(4)}" for _ in range(4)]
    pass_ids = []
    for number, customer in enumerate(customers):
        crm.put_customer(customer, {"first_name": "A", "loyalty": {"points": number}})
        accepted = demo.create_pass(
            "member", identifiers={"crm": customer}, metadata={"store": store}
        ).json()
        assert demo.wait_for_final(accepted["correlationId"])["status"] == "completed"
        pass_ids.append(accepted["passId"])
    for number, customer in enumerate(customers):
        crm.put_customer(customer, {"first_name": "A", "loyalty": {"points": 100 + number}})

    crm.configure(fail_ids=[customers[0]])
    try:
        started = demo.session.post(
            demo.url("/push-updates"),
            json={"filter": {"metadata": {"store": [store]}}, "data": {"metadata": {"tier": "T"}}},
            timeout=10,
        )
        assert started.status_code == 202, started.text
        operation = demo.wait_for_final(started.json()["correlationId"])
    finally:
        crm.configure(fail_ids=[])
    assert operation["counters"]["succeeded"] == 3
    assert operation["counters"]["failed"] == 1
    (error,) = operation["errors"]
    assert error == {
        "id": pass_ids[0],
        "reason": "external data provider 'crm': answered HTTP 503",
    }
    assert [_pkpass_points(demo, pass_id) for pass_id in pass_ids[1:]] == [101, 102, 103]
    assert _pkpass_points(demo, pass_ids[0]) == 0  # untouched: its provider failed
