"""When a campaign's Google message goes once to the class instead of once per object
(shared/campaigns/class_messages.py: `choose`, pure), the class's own alert budget against the
real Redis, and the client's class addMessage against the fake Google Wallet API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from shared.campaigns import class_messages
from shared.campaigns.class_messages import CLASS, OBJECTS, choose
from shared.clients.google_wallet import GoogleApiError, GoogleWalletClient
from shared.notifications.config import NotificationPolicy, parse_quiet_hours
from tests.support.google import RunningFakeGoogle, running_fake_google

ISSUER = "3388000000022000001"
CLASS_ID = f"{ISSUER}.cards"
T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)

# A pass type as `choose` reads it: its id and its Google class (None: Apple only).
CARD = SimpleNamespace(
    id="card", google=SimpleNamespace(issuer_id=ISSUER, kind="loyalty", class_id=CLASS_ID)
)
APPLE_ONLY = SimpleNamespace(id="apple-only", google=None)
PASS_TYPES: Any = {"card": CARD, "apple-only": APPLE_ONLY}
POLICY = NotificationPolicy()
NIGHTS = NotificationPolicy(quiet_hours=parse_quiet_hours({"start": "22:00", "end": "07:00"}))


def campaign(segment: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A campaign operation: by default a transactional message to every `card` pass."""
    stored = {"passTypes": ["card"], "identifiers": [], "metadata": [], "ids": []}
    stored.update(apple=None, google=None)
    operation = {
        "_id": "op-1",
        "message": {"content": "The shop opens at 10 tomorrow"},
        "intent": {"segment": {**stored, **(segment or {})}, "patch": {}},
    }
    operation.update(fields)
    return operation


def test_a_transactional_message_to_every_pass_of_a_type_goes_to_its_class() -> None:
    choice = choose(campaign(), POLICY, PASS_TYPES, matched=12)
    assert choice.by == CLASS
    assert choice.as_record() == {
        "by": CLASS,
        "passType": "card",
        "issuerId": ISSUER,
        "kind": "loyalty",
        "classId": CLASS_ID,
        "state": "owed",
    }
    # The tenant's quiet hours hold marketing messages only: a transactional one still goes.
    assert choose(campaign(), NIGHTS, PASS_TYPES, matched=12).by == CLASS
    # The campaign turned quiet hours off for itself: nothing is read per holder either.
    assert choose(campaign(quietHours=None), NIGHTS, PASS_TYPES, matched=12).by == CLASS


@pytest.mark.parametrize(
    ("operation", "why"),
    [
        (campaign(message=None), class_messages.NO_MESSAGE),
        (
            campaign(message={"content": "Members' evening", "kind": "marketing"}),
            class_messages.NOT_TRANSACTIONAL,
        ),
        (
            campaign(quietHours={"start": "22:00", "end": "07:00"}),
            class_messages.QUIET_HOURS,
        ),
        (campaign({"ids": ["p1", "p2"]}), class_messages.NARROW_SEGMENT),
        (campaign({"identifiers": [["crm", ["C-1"]]]}), class_messages.NARROW_SEGMENT),
        (campaign({"metadata": [["tier", ["Gold"]]]}), class_messages.NARROW_SEGMENT),
        (campaign({"google": True}), class_messages.NARROW_SEGMENT),
        (campaign({"apple": False}), class_messages.NARROW_SEGMENT),
        (campaign({"passTypes": []}), class_messages.NARROW_SEGMENT),  # the whole tenant
        (campaign({"passTypes": ["card", "apple-only"]}), class_messages.NARROW_SEGMENT),
        (campaign({"passTypes": ["apple-only"]}), class_messages.NO_GOOGLE_CLASS),
        (campaign({"passTypes": ["gone"]}), class_messages.NO_GOOGLE_CLASS),
    ],
)
def test_anything_that_differs_between_holders_goes_per_object(
    operation: dict[str, Any], why: str
) -> None:
    choice = choose(operation, POLICY, PASS_TYPES, matched=12)
    assert (choice.by, choice.why) == (OBJECTS, why)
    assert choice.as_record() == {"by": OBJECTS, "why": why}


def test_an_empty_segment_sends_no_class_message() -> None:
    choice = choose(campaign(), POLICY, PASS_TYPES, matched=0)
    assert (choice.by, choice.why) == (OBJECTS, class_messages.EMPTY_SEGMENT)


def test_the_batches_skip_object_messages_while_the_class_has_it() -> None:
    assert class_messages.by_class({"googleMessage": {"by": CLASS, "state": "sent"}})
    assert class_messages.by_class({"googleMessage": {"by": CLASS, "state": "sending"}})
    # Google refused the class message: the objects get it, as before.
    assert not class_messages.by_class({"googleMessage": {"by": CLASS, "state": "failed"}})
    assert not class_messages.by_class({"googleMessage": {"by": OBJECTS, "why": "x"}})
    assert not class_messages.by_class({})


def test_a_class_notifies_three_times_a_day_once_per_message(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    class_id = f"{ISSUER}.{uuid.uuid4().hex[:8]}"
    spent = [
        class_messages.spend_class_alert(client, class_id, f"m{n}", T0 + timedelta(minutes=n))
        for n in range(4)
    ]
    assert spent == [True, True, True, False]
    # A retried send of a message that notified spends nothing more.
    assert class_messages.spend_class_alert(client, class_id, "m0", T0 + timedelta(hours=1))
    # A message Google never got gives its alert back, for the next one to spend.
    class_messages.refund_class_alert(client, class_id, "m2")
    assert class_messages.spend_class_alert(client, class_id, "m5", T0 + timedelta(hours=1))
    assert not class_messages.spend_class_alert(client, class_id, "m6", T0 + timedelta(hours=1))
    # A day after the first ones, the budget has room again.
    assert class_messages.spend_class_alert(
        client, class_id, "m7", T0 + timedelta(hours=24, minutes=1)
    )


class Unlimited:
    def acquire(self) -> float:
        return 0.0


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFakeGoogle]:
    with running_fake_google(tmp_path_factory.mktemp("google-class"), quota_rps=0) as running:
        yield running


def test_a_class_message_reaches_the_class_at_google(fake: RunningFakeGoogle) -> None:
    fake.control.reset()
    info = json.loads(Path(fake.service_account.key_file).read_text())
    client = GoogleWalletClient(
        info, api_base_url=fake.base_url, limiter=Unlimited(), sleep=lambda _: None
    )
    client.insert_class("loyalty", {"id": CLASS_ID, "issuerName": "Unit"})
    message = {"id": "op-1", "header": "Unit", "body": "Open at 10"}
    for _ in range(3):
        client.add_class_message("loyalty", CLASS_ID, {**message, "messageType": "TEXT_AND_NOTIFY"})
    with pytest.raises(GoogleApiError) as refused:  # Google's own limit, a fourth within 24 h
        client.add_class_message("loyalty", CLASS_ID, {**message, "messageType": "TEXT_AND_NOTIFY"})
    assert refused.value.reason == "quotaExceeded"
    answer = client.add_class_message("loyalty", CLASS_ID, {**message, "messageType": "TEXT"})
    assert answer["resource"]["messages"][-1]["body"] == "Open at 10"
    state = fake.control.state()
    types = [m["messageType"] for m in state["classes"][CLASS_ID]["messages"]]
    assert types == ["TEXT_AND_NOTIFY"] * 3 + ["TEXT"]
    posted = [e["path"] for e in state["log"] if e["path"].endswith("/addMessage")]
    assert posted == [f"/walletobjects/v1/loyaltyClass/{CLASS_ID}/addMessage"] * 5
    assert client.get_class("loyalty", CLASS_ID)["messages"][0]["id"] == "op-1"
