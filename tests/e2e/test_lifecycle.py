"""A pass's lifecycle end to end: HTTP → MongoDB (the decision) → Redis → the real worker
(re-render, sign) → the fake APNs → a Wallet device fetching the new, still verifying
.pkpass. Concurrent tills redeem a coupon once; concurrent credits all count; the expiry
sweep runs from a real `celery beat`."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from dev.fake_apns import FakeApnsControl
from shared.infra.clock import utcnow
from tests.conftest import DEMO_KEY
from tests.support.api_client import ApiClient
from tests.support.apple import (
    ApplePki,
    WalletDevice,
    check_manifest,
    download_pkpass,
    openssl_verify,
    unpack,
)
from tests.support.processes import BIN_DIR, ManagedProcess, wait_until

pytestmark = pytest.mark.usefixtures("worker")

ONE_PUSH = {"pushed": 1, "failed": 0, "unregistered": 0}


def issue(client: ApiClient, base_url: str, pass_type: str, **body: Any) -> WalletDevice:
    """A new pass of `pass_type`, and a device holding it, registered for its updates."""
    response = client.create_pass(pass_type, **body)
    assert response.status_code == 202, response.text
    operation = client.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation
    pass_id = response.json()["passId"]
    first = json.loads(unpack(download_pkpass(client, pass_id).content)["pass.json"])
    device = WalletDevice(base_url, pass_id, first["authenticationToken"])
    assert device.register().status_code == 201
    return device


def fetched_pass_json(device: WalletDevice, pki: ApplePki, workdir: Path) -> dict[str, Any]:
    """What the device gets when it asks for the latest version, verified as Wallet does."""
    response = device.fetch()
    assert response.status_code == 200, response.text
    files = unpack(response.content)
    check_manifest(files)
    verified = openssl_verify(files["signature"], files["manifest.json"], pki.root, workdir)
    assert verified.returncode == 0, verified.stderr
    document: dict[str, Any] = json.loads(files["pass.json"])
    return document


def put_status(client: ApiClient, pass_id: str, body: dict[str, Any]) -> requests.Response:
    return client.session.put(client.url(f"/passes/{pass_id}/status"), json=body, timeout=10)


def finished(client: ApiClient, response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 202), response.text
    return client.wait_for_final(response.json()["correlationId"])


def w3c(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_each_status_change_reaches_the_device(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, apple_pki: ApplePki, tmp_path: Path
) -> None:
    device = issue(demo, api_url, "loyalty", identifiers={"crm": f"C-{secrets.token_hex(4)}"})
    expires = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    steps: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"status": "blocked"}, {"voided": True}),
        ({"status": "active"}, {}),
        ({"expirationDate": expires.isoformat()}, {"expirationDate": w3c(expires)}),
        ({"status": "expired"}, {"voided": True}),  # shown expiring when it was set expired
        ({"status": "active", "expirationDate": None}, {}),
        ({"status": "voided"}, {"voided": True}),
    ]
    for index, (body, shown) in enumerate(steps, start=1):
        response = put_status(demo, device.serial, body)
        assert response.status_code == 202, response.text
        operation = finished(demo, response)
        assert operation["kind"] == "status"
        assert operation["status"] == "completed", operation
        assert operation["counters"]["apple"] == ONE_PUSH, (body, operation)
        assert len(fake_apns.pushes(device.push_token)) == index, body  # exactly one more

        pass_json = fetched_pass_json(device, apple_pki, tmp_path / str(index))
        lifecycle = {
            key: pass_json[key] for key in ("voided", "expirationDate") if key in pass_json
        }
        if body == {"status": "expired"}:
            changed_at = datetime.fromisoformat(lifecycle.pop("expirationDate"))
            assert changed_at <= utcnow() < expires
        assert lifecycle == shown, body
        assert demo.get_pass(device.serial).json()["status"] == response.json()["status"]

    # Voided for good: a refused change pushes nothing and leaves the pass as it is.
    refused = put_status(demo, device.serial, {"status": "active"})
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "status"
    assert len(fake_apns.pushes(device.push_token)) == len(steps)


def test_a_scanned_coupon_is_redeemed_and_shown_voided(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, apple_pki: ApplePki, tmp_path: Path
) -> None:
    code = f"COFFEE-{secrets.token_hex(4)}"
    device = issue(demo, api_url, "voucher", identifiers={"code": code})
    first = fetched_pass_json(device, apple_pki, tmp_path / "first")
    assert first["barcodes"][0]["message"] == code
    assert "voided" not in first

    # The till knows only what it scanned.
    response = demo.session.post(demo.url("/redemptions"), json={"barcode": code}, timeout=10)
    assert response.status_code == 202, response.text
    assert response.json()["passId"] == device.serial
    operation = finished(demo, response)
    assert operation["kind"] == "redeem" and operation["counters"]["apple"] == ONE_PUSH
    redeemed = fetched_pass_json(device, apple_pki, tmp_path / "redeemed")
    assert redeemed["voided"] is True
    assert redeemed["coupon"]["auxiliaryFields"][0]["value"] == "redeemed"
    assert len(fake_apns.pushes(device.push_token)) == 1


def concurrently(count: int, call: Callable[[int], requests.Response]) -> list[int]:
    """`count` calls started together (each on its own connection); their statuses."""
    barrier = threading.Barrier(count)

    def one(index: int) -> int:
        barrier.wait()
        return call(index).status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_twenty_tills_redeem_one_coupon_once(
    demo: ApiClient, api_url: str, db: Any, fake_apns: FakeApnsControl
) -> None:
    device = issue(demo, api_url, "voucher", identifiers={"code": secrets.token_hex(6)})
    url = demo.url(f"/passes/{device.serial}/redeem")
    started = utcnow()

    def redeem(_: int) -> requests.Response:
        return requests.post(url, json={}, headers={"X-API-Key": DEMO_KEY}, timeout=30)

    statuses = concurrently(20, redeem)
    assert sorted(statuses) == [202] + [409] * 19
    assert db.passes.find_one({"_id": device.serial})["status"] == "redeemed"
    # One refresh job, one push.
    [refresh] = db.operations.find({"kind": "redeem", "createdAt": {"$gte": started}})
    operation = demo.wait_for_final(refresh["_id"])
    assert operation["status"] == "completed" and operation["counters"]["apple"] == ONE_PUSH
    assert len(fake_apns.pushes(device.push_token)) == 1


def balance(client: ApiClient, pass_id: str, body: dict[str, Any]) -> requests.Response:
    return client.session.post(client.url(f"/passes/{pass_id}/balance"), json=body, timeout=10)


def test_fifty_concurrent_credits_all_count_and_a_repeat_counts_once(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, apple_pki: ApplePki, tmp_path: Path
) -> None:
    device = issue(demo, api_url, "points")
    url = demo.url(f"/passes/{device.serial}/balance")
    answers: list[dict[str, Any]] = []

    def credit(index: int) -> requests.Response:
        body = {"delta": 1, "reference": f"visit-{index}"}
        response = requests.post(url, json=body, headers={"X-API-Key": DEMO_KEY}, timeout=30)
        answers.append(response.json())
        return response

    assert concurrently(50, credit) == [200] * 50
    assert sorted(answer["balance"]["amount"] for answer in answers) == list(range(1, 51))
    for answer in answers:  # every refresh job ends; whichever renders last shows 50
        demo.wait_for_final(answer["correlationId"], timeout=60)

    repeat = balance(demo, device.serial, {"delta": 1, "reference": "visit-7"})
    assert repeat.status_code == 200
    assert repeat.json() == {
        "passId": device.serial,
        "balance": {"amount": 50, "unit": "points"},
        "applied": False,
    }
    header = fetched_pass_json(device, apple_pki, tmp_path / "after")["storeCard"]
    [field] = header["headerFields"]
    assert field["value"] == 50
    assert field["changeMessage"] == "You now have %@ points"
    assert fake_apns.pushes(device.push_token)


def test_a_gift_card_spends_its_money_and_refuses_to_go_below_zero(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, apple_pki: ApplePki, tmp_path: Path
) -> None:
    device = issue(demo, api_url, "giftcard")
    loaded = balance(demo, device.serial, {"delta": 2500, "currency": "EUR", "reference": "load"})
    assert finished(demo, loaded)["counters"]["apple"] == ONE_PUSH
    spent = balance(demo, device.serial, {"delta": -1250, "currency": "EUR"})
    assert spent.json()["balance"] == {"amount": 1250, "unit": "money", "currency": "EUR"}
    assert finished(demo, spent)["status"] == "completed"
    [field] = fetched_pass_json(device, apple_pki, tmp_path / "card")["storeCard"]["headerFields"]
    assert (field["value"], field["currencyCode"]) == (12.5, "EUR")
    assert field["changeMessage"] == "You now have %@"

    pushes = len(fake_apns.pushes(device.push_token))
    overdrawn = balance(demo, device.serial, {"delta": -1251})
    assert overdrawn.status_code == 409
    assert overdrawn.json()["errors"][0]["field"] == "delta"
    wrong = balance(demo, device.serial, {"delta": -1, "currency": "USD"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"] == [
        {"field": "currency", "reason": "this pass's balance is in EUR"}
    ]
    assert demo.get_pass(device.serial).json()["balance"]["amount"] == 1250
    assert len(fake_apns.pushes(device.push_token)) == pushes


@pytest.fixture
def beat(stack_env: dict[str, str], tmp_path: Path) -> Iterator[ManagedProcess]:
    """`celery beat` as the Procfile runs it, sending the expiry sweep every second."""
    command = [
        str(BIN_DIR / "celery"), "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
        "--schedule", str(tmp_path / "beat-schedule"),
    ]  # fmt: skip
    env = {**stack_env, "PASSWIRE_EXPIRY_INTERVAL_S": "1"}
    process = ManagedProcess("beat", command, env, r"beat: Starting")
    process.start()
    yield process
    process.stop()


@pytest.mark.usefixtures("beat")
def test_the_beat_expires_a_pass_when_its_date_comes(
    demo: ApiClient, api_url: str, fake_apns: FakeApnsControl, apple_pki: ApplePki, tmp_path: Path
) -> None:
    device = issue(demo, api_url, "voucher", identifiers={"code": secrets.token_hex(6)})
    soon = (utcnow() + timedelta(seconds=2)).replace(microsecond=0)
    dated = put_status(demo, device.serial, {"expirationDate": soon.isoformat()})
    assert finished(demo, dated)["status"] == "completed"
    pushes = len(fake_apns.pushes(device.push_token))

    def expired_and_pushed() -> bool:
        expired = demo.get_pass(device.serial).json()["status"] == "expired"
        return expired and len(fake_apns.pushes(device.push_token)) > pushes

    wait_until(expired_and_pushed, 60, interval=0.2, what="the sweep to expire the pass")
    assert len(fake_apns.pushes(device.push_token)) == pushes + 1
    pass_json = fetched_pass_json(device, apple_pki, tmp_path / "expired")
    assert pass_json["voided"] is True
    assert pass_json["expirationDate"] == w3c(soon)

    listed = demo.session.get(demo.url("/operations"), params={"kind": "expire"}, timeout=10)
    assert listed.status_code == 200
    assert any(operation["status"] == "completed" for operation in listed.json())
    # Once expired, a till cannot redeem it.
    assert (
        demo.session.post(demo.url(f"/passes/{device.serial}/redeem"), json={}).status_code == 409
    )
