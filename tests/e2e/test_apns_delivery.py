"""Update pushes through the fake APNs (its own process, TLS with the pass type certificate):
dead push tokens lose their registration, transient APNs errors are retried."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from tests.support.api_client import ApiClient
from tests.support.apple import WalletDevice, issue_apple_pass, update_pass

pytestmark = pytest.mark.usefixtures("worker")


def registered_devices(db: Any, serial: str) -> list[str]:
    return sorted(
        r["deviceLibraryIdentifier"] for r in db.registrations.find({"serialNumber": serial})
    )


@pytest.mark.parametrize("answer", ["410 Unregistered", "400 BadDeviceToken"])
def test_a_dead_push_token_loses_its_registration(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl, api_url: str, answer: str
) -> None:
    alive = issue_apple_pass(demo, api_url, points=10)
    dead = WalletDevice(api_url, alive.serial, alive.authentication_token)
    if answer == "410 Unregistered":
        fake_apns.configure(unregistered=[dead.push_token])
    else:
        dead.push_token = secrets.token_hex(16)  # valid to register; APNs wants 64 hex digits
    assert alive.register().status_code == 201
    assert dead.register().status_code == 201

    operation = update_pass(demo, alive.serial, {"additionalData": {"points": 11}})
    assert operation["status"] == "completed", operation
    assert operation["counters"]["apple"] == {"pushed": 1, "failed": 0, "unregistered": 1}
    assert registered_devices(db, alive.serial) == [alive.device_id]
    assert len(fake_apns.pushes(alive.push_token)) == 1
    assert fake_apns.pushes(dead.push_token) == []

    # The next change goes to the living device only.
    operation = update_pass(demo, alive.serial, {"additionalData": {"points": 12}})
    assert operation["counters"]["apple"] == {"pushed": 1, "failed": 0, "unregistered": 0}
    assert len(fake_apns.pushes(alive.push_token)) == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_apns_errors_are_retried(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl, api_url: str, status: int
) -> None:
    device = issue_apple_pass(demo, api_url, points=10)
    assert device.register().status_code == 201
    fake_apns.configure(fail_first=[{"token": device.push_token, "count": 2, "status": status}])

    operation = update_pass(demo, device.serial, {"additionalData": {"points": 20}})
    assert operation["status"] == "completed", operation
    assert operation["counters"]["apple"] == {"pushed": 1, "failed": 0, "unregistered": 0}
    [push] = fake_apns.pushes(device.push_token)
    # Two refused attempts and the delivered one reached the fake APNs.
    assert fake_apns.stats()["requests"] >= 3
    assert registered_devices(db, device.serial) == [device.device_id]
    assert push["topic"] == "pass.com.example.demo"
