"""Deleting and erasing a pass end to end: HTTP → Redis → the real worker → the fake APNs and
the fake Google Wallet API (the pass voided in both), then MongoDB (the pass gone; erased: no
trace of it in any collection) and a Wallet device asking for the pass afterwards."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from tests.support.api_client import ApiClient
from tests.support.apple import (
    ApplePki,
    WalletDevice,
    check_manifest,
    create_pass,
    download_pkpass,
    openssl_verify,
    unpack,
)
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID
from tests.support.processes import wait_until
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.usefixtures("worker")

ONE_PUSH = {"pushed": 1, "failed": 0, "unregistered": 0}
CLASS_ID = f"{DEMO_ISSUER_ID}.demo-loyalty"


def object_id(pass_id: str) -> str:
    return f"{DEMO_ISSUER_ID}.{pass_id}"


def delete(client: ApiClient, pass_id: str, *, erase: bool | None = None) -> requests.Response:
    params = None if erase is None else {"erase": str(erase).lower()}
    return client.session.delete(client.url(f"/passes/{pass_id}"), params=params, timeout=10)


def deleted(client: ApiClient, pass_id: str, *, erase: bool = False) -> dict[str, Any]:
    """DELETE the pass, check the 202, wait for the job; its final operation."""
    response = delete(client, pass_id, erase=erase)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["passId"] == pass_id
    assert response.headers["Location"].endswith(f"/operations/{accepted['correlationId']}")
    operation = client.wait_for_final(accepted["correlationId"])
    assert operation["kind"] == ("erase" if erase else "delete")
    return operation


def issue(client: ApiClient, base_url: str, **body: Any) -> WalletDevice:
    """A demo loyalty pass (Apple and Google), and a device holding it, registered."""
    pass_id = create_pass(client, **body)
    first = json.loads(unpack(download_pkpass(client, pass_id).content)["pass.json"])
    device = WalletDevice(base_url, pass_id, first["authenticationToken"])
    assert device.register().status_code == 201
    return device


@dataclass(frozen=True)
class Wallets:
    """The fakes a deletion must reach: APNs (the push) and Google Wallet (the object)."""

    apns: FakeApnsControl
    google: FakeGoogleControl

    def google_state(self, pass_id: str) -> str | None:
        stored = self.google.object(object_id(pass_id))
        return None if stored is None else str(stored["resource"]["state"])


@pytest.fixture
def wallets(fake_apns: FakeApnsControl, fake_google: FakeGoogleControl) -> Wallets:
    return Wallets(fake_apns, fake_google)


@pytest.fixture
def fetched_pass_json(apple_pki: ApplePki, tmp_path: Path) -> Callable[[WalletDevice], Any]:
    """What a device gets when it asks for its pass, verified as Wallet does."""

    def fetch(device: WalletDevice) -> dict[str, Any]:
        response = device.fetch()
        assert response.status_code == 200, response.text
        files = unpack(response.content)
        check_manifest(files)
        verified = openssl_verify(
            files["signature"], files["manifest.json"], apple_pki.root, tmp_path
        )
        assert verified.returncode == 0, verified.stderr
        document: dict[str, Any] = json.loads(files["pass.json"])
        return document

    return fetch


def _strings(value: Any) -> Iterator[str]:
    """Every string, key and byte string in a document, bytes decoded leniently."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value


def traces(db: Any, secrets_: list[str]) -> list[tuple[str, str]]:
    """(collection, secret) for every document of every collection holding a secret."""
    found = []
    for name in db.list_collection_names():
        for document in db[name].find():
            text = "\n".join(_strings(document))
            found.extend((name, secret) for secret in secrets_ if secret in text)
    return sorted(set(found))


def test_a_deleted_pass_is_voided_in_both_wallets_then_gone(
    demo: ApiClient,
    api_url: str,
    db: Any,
    wallets: Wallets,
    fetched_pass_json: Callable[[WalletDevice], Any],
) -> None:
    crm = f"C-{secrets.token_hex(4)}"
    device = issue(demo, api_url, identifiers={"crm": crm}, metadata={"store": "42"})
    save_in_google_wallet(demo, wallets.google, api_url, device.serial)  # a holder on Google
    listed_before = device.updated_since().json()["lastUpdated"]

    operation = deleted(demo, device.serial)
    assert operation["status"] == "completed", operation
    assert operation["counters"]["succeeded"] == 1
    assert operation["counters"]["apple"] == ONE_PUSH
    assert operation["counters"]["google"]["patched"] == 1
    assert len(wallets.apns.pushes(device.push_token)) == 1
    assert wallets.google_state(device.serial) == "INACTIVE"

    # Gone from the API: reading, searching, changing, deleting again.
    assert demo.get_pass(device.serial).status_code == 404
    search = demo.session.get(demo.url("/passes"), params={"identifiers.crm": crm}, timeout=10)
    assert search.status_code == 200 and search.json() == []
    patch = demo.session.patch(demo.url(f"/passes/{device.serial}"), json={}, timeout=10)
    assert patch.status_code == 404
    assert delete(demo, device.serial).status_code == 404

    # The device, told by the push, asks what changed and gets the voided version.
    listed = device.updated_since(listed_before)
    assert listed.status_code == 200
    assert listed.json()["serialNumbers"] == [device.serial]
    voided = fetched_pass_json(device)
    assert voided["voided"] is True
    assert voided["serialNumber"] == device.serial

    # Kept only for its devices: once the last one unregisters, nothing is served.
    assert device.unregister().status_code == 200
    assert db.deleted_passes.find_one({"_id": device.serial}) is None
    assert device.fetch().status_code == 401


def test_an_erased_pass_leaves_no_trace_in_any_collection(
    demo: ApiClient, api_url: str, db: Any, wallets: Wallets
) -> None:
    values = {name: f"{name}-{secrets.token_hex(6)}" for name in ("crm", "store", "tier", "new")}
    created = demo.session.post(
        demo.url("/passes"),
        params={"passType": "loyalty"},
        json={
            "identifiers": {"crm": values["crm"]},
            "metadata": {"store": values["store"], "tier": values["tier"]},
            "additionalData": {"points": 3},
        },
        headers={"Idempotency-Key": secrets.token_hex(8)},  # its stored answer names the pass
        timeout=10,
    )
    assert created.status_code == 202, created.text
    assert demo.wait_for_final(created.json()["correlationId"])["status"] == "completed"
    pass_id = created.json()["passId"]
    updated = demo.session.patch(
        demo.url(f"/passes/{pass_id}"), json={"metadata": {"tier": values["new"]}}, timeout=10
    )
    assert demo.wait_for_final(updated.json()["correlationId"])["status"] == "completed"
    token = json.loads(unpack(download_pkpass(demo, pass_id).content)["pass.json"])
    device = WalletDevice(api_url, pass_id, token["authenticationToken"])
    assert device.register().status_code == 201
    # Install history: a download with the holder's browser, and Google's save callback.
    browser = f"Browser/{secrets.token_hex(6)}"
    click = demo.session.get(
        demo.url(f"/passes/{pass_id}/download/apple"),
        params={"medium": "email"},
        headers={"User-Agent": browser},
        timeout=10,
    )
    assert click.status_code == 200, click.text
    saved = wallets.google.send_callback(
        f"{api_url}/google/demo/callbacks",
        class_id=CLASS_ID,
        object_id=object_id(pass_id),
        event_type="save",
    )
    assert saved["status"] == 200, saved

    personal = [
        *values.values(),
        pass_id,
        device.authentication_token,
        device.push_token,
        device.device_id,
        browser,
    ]
    # While the pass lives the scan finds each of them (the replaced tier went already).
    before = {secret for _, secret in traces(db, personal)}
    assert before == set(personal) - {values["tier"]}

    operation = deleted(demo, pass_id, erase=True)
    assert operation["status"] == "completed", operation
    assert operation["counters"]["succeeded"] == 1
    assert operation["counters"]["apple"] == ONE_PUSH  # voided on the phone first
    assert len(wallets.apns.pushes(device.push_token)) == 1
    assert wallets.google_state(pass_id) == "INACTIVE"

    assert traces(db, personal) == []
    # The operation stays visible; an anonymous tombstone counts the pass.
    shown = demo.operation(operation["correlationId"])
    assert shown.status_code == 200
    assert shown.json()["status"] == "completed"
    assert shown.json()["counters"]["succeeded"] == 1
    listed = demo.session.get(demo.url("/operations"), params={"kind": "erase"}, timeout=10)
    assert operation["correlationId"] in {item["correlationId"] for item in listed.json()}
    tombstone = db.pass_tombstones.find_one({"_id": operation["correlationId"]})
    assert set(tombstone) == {"_id", "tenant", "passType", "createdAt", "deletedAt", "erasedAt"}
    assert (tombstone["tenant"], tombstone["passType"]) == ("demo", "loyalty")

    # Apple's protocol: a pass the device may no longer fetch is 401, nothing is listed.
    assert device.fetch().status_code == 401
    assert device.updated_since().status_code == 204
    assert delete(demo, pass_id, erase=True).status_code == 404


def test_erasing_a_deleted_pass_removes_what_its_deletion_kept(
    demo: ApiClient, api_url: str, db: Any, wallets: Wallets
) -> None:
    device = issue(demo, api_url, identifiers={"crm": f"C-{secrets.token_hex(4)}"})
    assert deleted(demo, device.serial)["status"] == "completed"
    assert db.deleted_passes.find_one({"_id": device.serial}) is not None
    assert device.fetch().status_code == 200  # the voided version, for this device

    operation = deleted(demo, device.serial, erase=True)
    assert operation["status"] == "completed", operation
    assert operation["counters"]["succeeded"] == 1
    assert operation["counters"]["apple"]["pushed"] == 0  # voided already: nothing to push
    assert len(wallets.apns.pushes(device.push_token)) == 1
    assert traces(db, [device.serial, device.push_token, device.device_id]) == []
    assert device.fetch().status_code == 401
    assert delete(demo, device.serial, erase=True).status_code == 404


def test_an_erased_pass_s_webhook_events_go_with_it(
    rival: ApiClient, db: Any, webhook_receiver: Receiver
) -> None:
    member = f"M-{secrets.token_hex(6)}"
    response = rival.create_pass("coupon", identifiers={"member": member})
    assert response.status_code == 202, response.text
    assert rival.wait_for_final(response.json()["correlationId"])["status"] == "completed"
    pass_id = response.json()["passId"]
    wait_until(
        lambda: db.webhook_deliveries.find_one(
            {"tenant": "rival", "type": "pass.created", "body": {"$regex": pass_id}}
        ),
        30,
        what="the pass.created delivery",
    )

    operation = deleted(rival, pass_id, erase=True)
    assert operation["status"] == "completed", operation
    assert traces(db, [member, pass_id]) == []
    # The brand still hears that the erasure finished: by correlationId, never the pass id.
    completed = wait_until(
        lambda: db.webhook_deliveries.find_one(
            {"tenant": "rival", "correlationId": operation["correlationId"]}
        ),
        30,
        what="the operation.completed delivery",
    )
    assert completed["type"] == "operation.completed"
    assert pass_id not in completed["body"]
