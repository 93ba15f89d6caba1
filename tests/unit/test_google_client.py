"""passwire's Google Wallet client and delivery steps against the fake Google Wallet API in
this process: tokens cached, transient errors retried, lost objects re-inserted, the
notification budget shared through Redis, Save link JWTs that Google's verifier accepts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from google.auth import jwt as google_jwt

from api.google.save import wallet_for_user_agent
from shared.clients.google_wallet import GoogleApiError, GoogleAuthFailed, GoogleWalletClient
from shared.google import delivery
from shared.google.passtype import GooglePassType, load_google_pass_type, render_google_class
from shared.google.save_link import SigningAccount, save_jwt, skinny_save_jwt
from shared.infra.ratelimit import NotificationBudget, RateLimitTimeout, SlidingWindowLimiter
from tests.support.google import RunningFakeGoogle, certificates_by_key_id, running_fake_google
from tests.unit.google.helpers import CLASS_JSON, DECLARED, write_google

ISSUER = "3388000000022000001"
CLASS_ID = f"{ISSUER}.unit"


class Unlimited:
    def acquire(self) -> float:
        return 0.0


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFakeGoogle]:
    with running_fake_google(tmp_path_factory.mktemp("google-unit"), quota_rps=0) as running:
        yield running


@pytest.fixture
def info(fake: RunningFakeGoogle) -> dict[str, Any]:
    fake.control.reset()
    info: dict[str, Any] = json.loads(Path(fake.service_account.key_file).read_text())
    return info


def client_for(fake: RunningFakeGoogle, info: dict[str, Any]) -> GoogleWalletClient:
    return GoogleWalletClient(
        info, api_base_url=fake.base_url, limiter=Unlimited(), sleep=lambda _: None
    )


def loyalty_class() -> dict[str, Any]:
    return {
        "id": CLASS_ID,
        "issuerName": "Unit",
        "programName": "Unit",
        "reviewStatus": "UNDER_REVIEW",
        "programLogo": {"sourceUri": {"uri": "https://example.com/logo.png"}},
    }


def unit_pass_type(folder: Path, class_suffix: str) -> GooglePassType:
    return load_google_pass_type(
        write_google(folder),
        DECLARED,
        tenant_id="unit",
        pass_type_id="card",
        issuer_id=ISSUER,
        kind="loyalty",
        class_suffix=class_suffix,
    )


def test_one_token_serves_many_calls(fake: RunningFakeGoogle, info: dict[str, Any]) -> None:
    client = client_for(fake, info)
    client.insert_class("loyalty", loyalty_class())
    for index in range(5):
        client.insert_object("loyalty", {"id": f"{ISSUER}.o{index}", "classId": CLASS_ID})
    counters = fake.control.counters()
    assert counters["token_requests"] == 1
    assert client.stats.requests == 6


def test_transient_errors_are_retried_and_others_raised(
    fake: RunningFakeGoogle, info: dict[str, Any]
) -> None:
    client = client_for(fake, info)
    client.insert_class("loyalty", loyalty_class())
    fake.control.fail_next("loyaltyObject", status=503, count=2)
    client.insert_object("loyalty", {"id": f"{ISSUER}.retried", "classId": CLASS_ID})
    assert client.stats.retries == 2
    with pytest.raises(GoogleApiError) as refused:
        client.insert_object("loyalty", {"id": f"{ISSUER}.retried", "classId": CLASS_ID})
    assert (refused.value.status, refused.value.reason) == (409, "duplicate")


def test_an_unknown_service_account_gets_no_token(
    fake: RunningFakeGoogle, info: dict[str, Any]
) -> None:
    stranger = {**info, "client_email": "stranger@passwire-dev.iam.gserviceaccount.com"}
    with pytest.raises(GoogleAuthFailed):
        client_for(fake, stranger).get_class("loyalty", CLASS_ID)


def test_an_expired_token_is_replaced(fake: RunningFakeGoogle, info: dict[str, Any]) -> None:
    client = client_for(fake, info)
    client.insert_class("loyalty", loyalty_class())
    fake.control.advance_clock(2 * 3600)  # the fake now refuses the cached token: 401
    assert client.get_class("loyalty", CLASS_ID)["id"] == CLASS_ID
    assert fake.control.counters()["token_requests"] == 2


def test_a_lost_object_is_inserted_again(
    fake: RunningFakeGoogle, info: dict[str, Any], tmp_path: Path
) -> None:
    google = unit_pass_type(tmp_path, "lost")
    client = client_for(fake, info)
    body = {"id": f"{ISSUER}.lost", "classId": google.class_id, "state": "ACTIVE"}
    # Google acknowledged the object once (syncedHash), then lost it: PATCH 404 → insert.
    stored = {"objectId": body["id"], "object": body, "syncedHash": "h-1"}
    callback = "https://example.com/cb"
    assert delivery.sync_object(client, google, stored, callback) == "inserted"
    assert delivery.sync_object(client, google, stored, callback) == "patched"
    assert fake.control.object(body["id"])["patch_count"] == 1  # type: ignore[index]
    # The class went first, with passwire's callback URL.
    google_class = fake.control.state(include_log=False)["classes"][google.class_id]
    assert google_class["resource"]["callbackOptions"]["url"] == callback


def test_a_class_google_holds_already_is_brought_to_our_class_json(
    fake: RunningFakeGoogle, info: dict[str, Any], tmp_path: Path
) -> None:
    """A brand edits class.json (its logo, its colours) and restarts the workers: the class
    Google holds, inserted by an earlier version, takes the new content."""
    google = unit_pass_type(tmp_path, "edited")
    client = client_for(fake, info)
    client.insert_class("loyalty", {**loyalty_class(), "id": google.class_id, "issuerName": "Old"})
    delivery.ensure_class(client, google, "https://example.com/cb")
    held = fake.control.state(include_log=False)["classes"][google.class_id]["resource"]
    ours = render_google_class(google, callback_url="https://example.com/cb")
    assert held["issuerName"] == ours["issuerName"] != "Old"
    assert held["callbackOptions"] == ours["callbackOptions"]
    calls = len(fake.control.state()["log"])
    delivery.ensure_class(client, google, "https://example.com/cb")  # known to this process now
    assert len(fake.control.state()["log"]) == calls


def test_an_activated_class_json_reaches_google_without_a_restart(
    fake: RunningFakeGoogle, info: dict[str, Any], tmp_path: Path
) -> None:
    """A pass type version with another class.json (docs/passtypes.md) keeps its class id:
    this process, which sent the class of the version before, sends the new content too."""
    before = unit_pass_type(tmp_path / "v1", "activated")
    edited = json.loads(CLASS_JSON) | {"issuerName": "Redesigned"}
    after = load_google_pass_type(
        write_google(tmp_path / "v2", class_json=json.dumps(edited)),
        DECLARED,
        tenant_id="unit",
        pass_type_id="card",
        issuer_id=ISSUER,
        kind="loyalty",
        class_suffix="activated",
    )
    assert before.class_id == after.class_id
    client = client_for(fake, info)
    delivery.ensure_class(client, before, "https://example.com/cb")
    delivery.ensure_class(client, after, "https://example.com/cb")
    held = fake.control.state(include_log=False)["classes"][after.class_id]["resource"]
    assert held["issuerName"] == "Redesigned"


def test_a_refused_class_patch_does_not_hold_up_the_objects(
    fake: RunningFakeGoogle, info: dict[str, Any], tmp_path: Path
) -> None:
    google = unit_pass_type(tmp_path, "refused")
    client = client_for(fake, info)
    client.insert_class("loyalty", {**loyalty_class(), "id": google.class_id, "issuerName": "Old"})
    fake.control.fail_next(f"Class/{google.class_id}", status=500, count=6, method="PATCH")
    body = {"id": f"{ISSUER}.refused-1", "classId": google.class_id, "state": "ACTIVE"}
    stored = {"objectId": body["id"], "object": body, "syncedHash": None}
    assert delivery.sync_object(client, google, stored, "https://example.com/cb") == "inserted"
    held = fake.control.state(include_log=False)["classes"][google.class_id]["resource"]
    assert held["issuerName"] == "Old"  # kept as it was
    calls = len(fake.control.state()["log"])
    other = {
        **stored,
        "objectId": f"{ISSUER}.refused-2",
        "object": {**body, "id": f"{ISSUER}.refused-2"},
    }
    assert delivery.sync_object(client, google, other, "https://example.com/cb") == "inserted"
    assert len(fake.control.state()["log"]) == calls + 1  # the object only: the class is known


def test_the_notification_budget_is_shared_and_refundable(redis_url: str) -> None:
    budget = NotificationBudget(redis.Redis.from_url(redis_url), prefix=f"t:{uuid.uuid4()}:")
    other = NotificationBudget(redis.Redis.from_url(redis_url), prefix=budget.prefix)
    receipts = [budget.spend("object-1"), other.spend("object-1"), budget.spend("object-1")]
    assert all(receipts)
    assert other.spend("object-1") is None  # the fourth within the day
    assert budget.spend("object-2") is not None  # per object
    budget.refund("object-1", receipts[0])  # type: ignore[arg-type]
    assert other.spend("object-1") is not None


def test_the_sliding_window_lets_limit_calls_through_then_says_how_long_to_wait(
    redis_url: str,
) -> None:
    limiter = SlidingWindowLimiter(redis.Redis.from_url(redis_url), f"t:{uuid.uuid4()}", 3)
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.try_acquire()
    # Until the first call leaves the window (and its margin).
    assert 0.9 < wait <= limiter.window_s + limiter.margin_s
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(max_wait_s=0.5)
    assert 0.5 < limiter.acquire() < 1.3  # waits for the first slot to free, then takes it
    # The first three calls left the window within a few milliseconds of each other: once
    # they have, two more fit, then it is full again.
    time.sleep(0.05)
    assert [limiter.try_acquire() for _ in range(2)] == [0.0, 0.0]
    assert limiter.try_acquire() > 0


@pytest.mark.parametrize(
    ("user_agent", "apple", "google", "wallet"),
    [
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8)", True, True, "google"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", True, True, "apple"),
        ("Mozilla/5.0 (X11; Linux x86_64)", True, True, "apple"),
        ("Mozilla/5.0 (Linux; Android 14)", True, False, "apple"),
        ("Mozilla/5.0 (iPhone)", False, True, "google"),
        ("anything", False, False, None),
    ],
)
def test_device_auto_picks_a_wallet(
    user_agent: str, apple: bool, google: bool, wallet: str | None
) -> None:
    assert wallet_for_user_agent(user_agent, has_apple=apple, has_google=google) == wallet


def test_save_links_verify_whole_or_skinny(fake: RunningFakeGoogle) -> None:
    info = json.loads(Path(fake.service_account.key_file).read_text())
    account = SigningAccount(info["client_email"], info["private_key_id"], info["private_key"])
    certs = certificates_by_key_id(fake.service_account)
    now = datetime.now(UTC)
    small = {"id": f"{ISSUER}.small", "classId": CLASS_ID, "state": "ACTIVE"}
    token = save_jwt(account, kind="loyalty", objects=[small], origins=[], now=now)
    claims = google_jwt.decode(token, certs=certs, audience="google")
    assert claims["payload"]["loyaltyObjects"] == [small]
    big = {**small, "accountName": "x" * 5000}
    token = skinny_save_jwt(
        account, kind="loyalty", object_id=big["id"], class_id=CLASS_ID, origins=[], now=now
    )
    claims = google_jwt.decode(token, certs=certs, audience="google")
    assert len(token) < 1000  # the object's size no longer matters
    assert claims["payload"]["loyaltyObjects"] == [{"id": small["id"], "classId": CLASS_ID}]
