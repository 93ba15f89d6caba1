"""`PUT …/passes/{passId}/notification` end to end: HTTP → Redis → the real worker (the
campaign planner and one batch) → the fake Google Wallet API, where the message lands on the
pass's object with a notification."""

from __future__ import annotations

from typing import Any

import pytest

from dev.fake_google import FakeGoogleControl
from shared.infra.ids import new_pass_id
from tests.support.api_client import ApiClient
from tests.support.apple import create_pass
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID


def notify(client: ApiClient, pass_id: str, body: Any) -> Any:
    return client.session.put(client.url(f"/passes/{pass_id}/notification"), json=body, timeout=10)


@pytest.mark.usefixtures("worker")
def test_the_message_notifies_the_holder_on_google(
    demo: ApiClient, fake_google: FakeGoogleControl, api_url: str
) -> None:
    pass_id = create_pass(demo, identifiers={"crm": "N-1"}, additionalData={"points": 7})
    save_in_google_wallet(demo, fake_google, api_url, pass_id)
    object_id = f"{DEMO_ISSUER_ID}.{pass_id}"
    body = {
        "message": {"content": "Your reward is ready", "localizedContent": {"fr": "Cadeau !"}},
        "data": {"additionalData": {"points": 8}},
    }

    response = notify(demo, pass_id, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["passId"] == pass_id
    operation = demo.wait_for_final(accepted["correlationId"])

    assert (operation["kind"], operation["status"]) == ("pushUpdate", "completed"), operation
    counters = operation["counters"]
    assert counters["total"] == counters["processed"] == counters["succeeded"] == 1
    assert counters["google"]["notified"] == 1
    assert counters["google"]["notificationSuppressed"] == 0
    stored = fake_google.object(object_id)
    assert stored is not None
    sent = [(entry["id"], entry["messageType"]) for entry in stored["messages"]]
    assert sent == [(accepted["correlationId"], "TEXT_AND_NOTIFY")]
    [message] = stored["resource"]["messages"]
    assert message["body"] == "Your reward is ready"
    assert message["localizedBody"]["translatedValues"] == [{"language": "fr", "value": "Cadeau !"}]
    # The data patch travelled with it: the object shows the new balance.
    assert stored["resource"]["loyaltyPoints"]["balance"] == {"string": "8"}


@pytest.mark.usefixtures("worker")
def test_a_message_for_a_pass_nobody_saved_calls_google_for_nothing(
    demo: ApiClient, fake_google: FakeGoogleControl, db: Any
) -> None:
    pass_id = create_pass(demo, identifiers={"crm": "N-2"}, additionalData={"points": 7})
    body = {"message": {"content": "Anyone?"}, "data": {"additionalData": {"points": 9}}}
    response = notify(demo, pass_id, body)
    assert response.status_code == 202, response.text
    operation = demo.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation
    google = operation["counters"]["google"]
    # Nobody holds the object: the message is counted, not sent; the new data waits, owed,
    # for the Save link's next click.
    assert (google["noHolder"], google["notified"], google["requests"]) == (1, 0, 0)
    assert fake_google.state()["log"] == []
    assert db.passes.find_one({"_id": pass_id})["googlePending"] is True


@pytest.mark.usefixtures("worker")
def test_an_unknown_pass_is_404_and_nothing_is_written(
    demo: ApiClient, fake_google: FakeGoogleControl, db: Any
) -> None:
    before = db.operations.count_documents({})

    response = notify(demo, new_pass_id(), {"message": {"content": "Anyone there?"}})

    assert response.status_code == 404, response.text
    assert response.json()["errors"] == [{"field": "passId", "reason": "no such pass"}]
    assert db.operations.count_documents({}) == before  # so no job either: jobs have one
    assert fake_google.state()["log"] == []
