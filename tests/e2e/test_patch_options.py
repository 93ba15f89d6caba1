"""PATCH of one pass beyond the merge patch: `options.bypassQueue` runs the update in the
request (200 with the result, the same domain function the worker runs: Apple push, Google
PATCH), and `passType` moves a pass to another pass type unless a wallet holds it under an
identity the new type does not share."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from tests.support.api_client import ApiClient
from tests.support.apple import create_pass, issue_apple_pass
from tests.support.crm import RunningCrm
from tests.support.google_saving import click_save_link, save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID


def patch(client: ApiClient, pass_id: str, body: Any) -> Any:
    return client.session.patch(client.url(f"/passes/{pass_id}"), json=body, timeout=30)


@pytest.mark.usefixtures("worker")
def test_bypass_queue_answers_with_the_result(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, fake_google: FakeGoogleControl
) -> None:
    device = issue_apple_pass(demo, api_url, points=1)
    assert device.register().status_code == 201
    save_in_google_wallet(demo, fake_google, api_url, device.serial)
    response = patch(
        demo,
        device.serial,
        {"additionalData": {"points": 2}, "options": {"bypassQueue": True}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pass"]["additionalData"] == {"points": 2}
    operation = body["operation"]
    assert (operation["status"], operation["counters"]["succeeded"]) == ("completed", 1)
    assert operation["counters"]["apple"]["pushed"] == 1
    assert [p["token"] for p in fake_apns.pushes()] == [device.push_token]
    stored = fake_google.object(f"{DEMO_ISSUER_ID}.{device.serial}")
    assert stored is not None and stored["resource"]["loyaltyPoints"]["balance"]["string"] == "2"
    # The same request shape without the option is queued as before.
    queued = patch(demo, device.serial, {"additionalData": {"points": 3}})
    assert queued.status_code == 202


@pytest.mark.usefixtures("worker")
def test_pass_type_changes(
    demo: ApiClient, fake_crm: RunningCrm, fake_google: FakeGoogleControl, db: Any
) -> None:
    customer = f"C-{secrets.token_hex(4)}"
    fake_crm.crm.put_customer(customer, {"first_name": "A", "loyalty": {"points": 5}})
    accepted = demo.create_pass("member", identifiers={"crm": customer}).json()
    assert demo.wait_for_final(accepted["correlationId"])["status"] == "completed"
    member = accepted["passId"]
    assert fake_google.object(f"{DEMO_ISSUER_ID}.{member}") is None  # member is Apple-only

    unknown = patch(demo, member, {"passType": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"field": "passType", "reason": "no pass type 'nope'"}]

    # member → loyalty: same Apple identity, and Google holds nothing yet: moved, rendered
    # with loyalty's templates; Google gets its object at the Save link's first click.
    moved = patch(
        demo,
        member,
        {"passType": "loyalty", "additionalData": {"points": 9}, "options": {"bypassQueue": True}},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["pass"]["passType"] == "loyalty"
    assert fake_google.object(f"{DEMO_ISSUER_ID}.{member}") is None
    click_save_link(demo, member)
    stored = fake_google.object(f"{DEMO_ISSUER_ID}.{member}")
    assert stored is not None and stored["resource"]["loyaltyPoints"]["balance"]["string"] == "9"

    # loyalty → mini: Google holds the object in the loyalty class; Google cannot move it.
    loyalty = create_pass(demo)
    click_save_link(demo, loyalty)
    before = db.passes.find_one({"_id": loyalty})
    refused = patch(demo, loyalty, {"passType": "mini"})
    assert refused.status_code == 409
    assert refused.json()["errors"] == [
        {"field": "passType", "reason": "Google Wallet holds it in another class"}
    ]
    assert db.passes.find_one({"_id": loyalty}) == before
