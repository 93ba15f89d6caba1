"""Publishing live events (shared/live/publish.py) through a real Redis: on the pass's own
channel, in the page's format; and never an error for the caller when Redis is away."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config.settings import Settings
from shared.live.channels import channel
from shared.live.publish import live_publish, live_publish_lifecycle

PASS = "Ed34kg3oA47abcdefghijk"


@pytest.fixture
def subscribed(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel("demo", PASS))
    yield pubsub
    pubsub.close()
    client.close()


def received(pubsub: Any) -> dict[str, Any]:
    for _ in range(50):
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            body: dict[str, Any] = json.loads(message["data"])
            return body
    raise AssertionError("no live message")


def test_an_event_reaches_its_pass_channel(redis_url: str, subscribed: Any) -> None:
    settings = Settings(redis_url=redis_url, environment="test")
    assert live_publish(settings, "demo", PASS, "pass.installed", {"wallet": "google"})
    event = received(subscribed)
    assert event["type"] == "pass.installed" and event["passId"] == PASS
    assert event["data"] == {"wallet": "google"}


def test_lifecycle_kinds_announce_redeemed_or_status(redis_url: str, subscribed: Any) -> None:
    settings = Settings(redis_url=redis_url, environment="test")
    document = {"_id": PASS, "tenant": "demo", "status": "redeemed"}
    assert live_publish_lifecycle(settings, "redeem", document)
    assert received(subscribed) | {"at": None} == {
        "type": "pass.redeemed",
        "passId": PASS,
        "at": None,
        "data": {"status": "redeemed"},
    }
    assert live_publish_lifecycle(settings, "expire", {**document, "status": "expired"})
    assert received(subscribed)["type"] == "pass.status"
    # A balance change is announced by its update job's pass.updated, not here.
    assert not live_publish_lifecycle(settings, "balance", document)


def test_redis_away_is_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", environment="test")
    with caplog.at_level(logging.WARNING, logger="shared.live.publish"):
        assert not live_publish(settings, "demo", PASS, "pass.updated", {"passType": "loyalty"})
    assert "live event pass.updated for pass" in caplog.text
