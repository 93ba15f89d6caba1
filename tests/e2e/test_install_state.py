"""A pass counts as installed in Apple Wallet while at least one device holds it: search by
install state follows registrations."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_client import ApiClient
from tests.support.apple import WalletDevice, issue_apple_pass

pytestmark = pytest.mark.usefixtures("worker")


def _found(demo: ApiClient, pass_id: str, state: str) -> bool:
    params = {"apple": state, "identifiers.crm": pass_id, "pageSize": "5"}
    found = demo.session.get(demo.url("/passes"), params=params, timeout=10).json()
    return any(item["id"] == pass_id for item in found)


def test_install_state_follows_the_devices(demo: ApiClient, db: Any, api_url: str) -> None:
    phone = issue_apple_pass(demo, api_url)
    # A unique identifier to search by.
    patched = demo.session.patch(
        demo.url(f"/passes/{phone.serial}"), json={"identifiers": {"crm": phone.serial}}, timeout=10
    )
    demo.wait_for_final(patched.json()["correlationId"])
    tablet = WalletDevice(api_url, phone.serial, phone.authentication_token)
    assert db.passes.find_one({"_id": phone.serial})["providers"]["apple"] is None

    assert phone.register().status_code == 201
    installed = db.passes.find_one({"_id": phone.serial})["providers"]["apple"]
    assert installed["installedAt"] is not None
    assert _found(demo, phone.serial, "installed")
    assert tablet.register().status_code == 201

    assert phone.unregister().status_code == 200
    assert db.passes.find_one({"_id": phone.serial})["providers"]["apple"] == installed
    assert tablet.unregister().status_code == 200
    assert db.passes.find_one({"_id": phone.serial})["providers"]["apple"] is None
    assert _found(demo, phone.serial, "notInstalled")
