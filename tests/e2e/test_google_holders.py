"""Google objects only where a holder is, end to end: HTTP → Redis → the real worker → MongoDB →
the fake Google Wallet API, whose request log proves which calls were made.

A pass is created without a call to Google; its Google button (passwire's Save link redirect)
sends the current object first and answers a skinny link naming it; the save callback makes the
pass "saved"; a campaign PATCHes (and messages) only saved objects, leaving the others owed
until their next click; a save that comes after a change catches Google up; after the delete
callback no call is made for the pass.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from dev.fake_google import FakeGoogleControl
from tests.e2e.test_google_wallet import verified_claims
from tests.support.api_client import ApiClient
from tests.support.apple import create_pass
from tests.support.google import FakeGoogleProcess
from tests.support.google_saving import (
    LOYALTY_CLASS_ID,
    click_save_link,
    google_callback,
    object_id,
)
from tests.support.processes import wait_until

pytestmark = pytest.mark.usefixtures("worker")


def _log(fake_google: FakeGoogleControl) -> list[dict[str, Any]]:
    return list(fake_google.state()["log"])


def _calls_for(entries: list[dict[str, Any]], pass_id: str) -> list[tuple[str, str]]:
    """(method, path) of the requests naming the pass's object in their path."""
    return [(e["method"], e["path"]) for e in entries if object_id(pass_id) in e["path"]]


def _campaign(client: ApiClient, pass_ids: list[str], **body: Any) -> dict[str, Any]:
    response = client.session.post(
        client.url("/push-updates"), json={"filter": {"ids": pass_ids}, **body}, timeout=10
    )
    assert response.status_code == 202, response.text
    operation = client.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation
    return operation


def _points_at_google(fake_google: FakeGoogleControl, pass_id: str) -> Any:
    stored = fake_google.object(object_id(pass_id))
    assert stored is not None
    return stored["resource"]["loyaltyPoints"]["balance"]


def test_google_is_called_only_for_objects_someone_holds(
    demo: ApiClient,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
    api_url: str,
    db: Any,
) -> None:
    crm = secrets.token_hex(4)
    saver = create_pass(demo, identifiers={"crm": f"{crm}-1"}, additionalData={"points": 1})
    browser = create_pass(demo, identifiers={"crm": f"{crm}-2"}, additionalData={"points": 1})
    # Created: not one call to Google, the objects owed and held by nobody.
    assert _log(fake_google) == []
    for pass_id in (saver, browser):
        document = db.passes.find_one({"_id": pass_id})
        assert (document["googlePending"], document["googleHolder"]) == (True, None)

    # The Google button: the object reaches Google before the redirect, with the current
    # content, and the link's JWT (verified with the service account's certificate) names it.
    for pass_id in (saver, browser):
        claims = verified_claims(click_save_link(demo, pass_id), fake_google_server)
        reference = {"id": object_id(pass_id), "classId": LOYALTY_CLASS_ID}
        assert claims["payload"]["loyaltyObjects"] == [reference]
        stored = fake_google.object(object_id(pass_id))
        assert stored is not None
        assert stored["resource"] == db.passes.find_one({"_id": pass_id})["google"]["object"]
        assert "googlePending" not in db.passes.find_one({"_id": pass_id})
    # A second click finds Google up to date: no call.
    before = len(_log(fake_google))
    click_save_link(demo, saver)
    assert len(_log(fake_google)) == before

    # Only `saver` is saved: the callback makes it count as saved.
    google_callback(fake_google, api_url, saver, "save")
    assert demo.get_pass(saver).json()["providers"]["google"]["installedAt"]
    assert db.passes.find_one({"_id": saver})["googleHolder"] == "saved"

    # A campaign with a data change and a message: Google hears only of the saved object.
    before = len(_log(fake_google))
    operation = _campaign(
        demo, [saver, browser], data={"additionalData": {"points": 2}}, message={"content": "Hi"}
    )
    calls = _log(fake_google)[before:]
    counters = operation["counters"]
    assert counters["succeeded"] == 2
    assert (counters["google"]["patched"], counters["google"]["inserted"]) == (1, 0)
    assert (counters["google"]["notified"], counters["google"]["noHolder"]) == (1, 1)
    assert _calls_for(calls, browser) == []
    # Its PATCH and its addMessage; no object inserted.
    assert sorted(method for method, _ in _calls_for(calls, saver)) == ["PATCH", "POST"]
    assert not [e for e in calls if e["method"] == "POST" and e["path"].endswith("Object")]
    assert _points_at_google(fake_google, saver) == {"string": "2"}
    assert _points_at_google(fake_google, browser) == {"string": "1"}  # stale at Google...
    assert db.passes.find_one({"_id": browser})["googlePending"] is True  # ...and owed

    # Its next click brings Google up to date before redirecting.
    click_save_link(demo, browser)
    assert _points_at_google(fake_google, browser) == {"string": "2"}
    assert "googlePending" not in db.passes.find_one({"_id": browser})

    # Deleted from Google Wallet: no further call for it.
    google_callback(fake_google, api_url, saver, "del")
    before = len(_log(fake_google))
    operation = _campaign(
        demo, [saver, browser], data={"additionalData": {"points": 3}}, message={"content": "Yo"}
    )
    assert _log(fake_google)[before:] == []
    assert operation["counters"]["succeeded"] == 2
    assert operation["counters"]["google"]["noHolder"] == 2
    assert operation["counters"]["google"]["patched"] == 0
    assert db.passes.find_one({"_id": saver})["googlePending"] is True


def test_a_save_after_a_change_brings_google_up_to_date(
    demo: ApiClient, fake_google: FakeGoogleControl, api_url: str, db: Any
) -> None:
    """A campaign ran between the click and the save: the holder saved the older object, so
    the save callback queues the pass's refresh, which PATCHes the current one."""
    pass_id = create_pass(demo, identifiers={"crm": secrets.token_hex(4)}, additionalData={})
    click_save_link(demo, pass_id)
    _campaign(demo, [pass_id], data={"additionalData": {"points": 5}})
    assert db.passes.find_one({"_id": pass_id})["googlePending"] is True

    google_callback(fake_google, api_url, pass_id, "save")

    def caught_up() -> bool:
        return _points_at_google(fake_google, pass_id) == {"string": "5"}

    wait_until(caught_up, 30, interval=0.3, what="the refresh to PATCH the saved object")

    def settled() -> bool:
        return "googlePending" not in db.passes.find_one({"_id": pass_id})

    wait_until(settled, 30, interval=0.3, what="the refresh to record Google's copy")
