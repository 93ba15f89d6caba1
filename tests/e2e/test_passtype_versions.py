"""A new design reaches the wallets without a restart: upload a version, activate it with a
re-render, each registered device is pushed once and fetches a pass that verifies and shows
the new colour and image; activating version 1 again restores the old pass.json byte for byte.

The pass type is a fresh one made through the API (from the demo loyalty folder), so the
session's other tests keep the demo loyalty card as it is."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from dev.fake_apns import FakeApnsControl
from shared.passtypes.archive import read_zip
from tests.support.api_client import ApiClient
from tests.support.apple import (
    ApplePki,
    WalletDevice,
    check_manifest,
    download_pkpass,
    openssl_verify,
    sha1,
    unpack,
)
from tests.support.passtypes import (
    NEW_COLOUR,
    activate,
    get_folder,
    loyalty_files,
    put_version,
    redesigned,
    zipped,
)
from tests.support.processes import ManagedProcess

pytestmark = pytest.mark.usefixtures("worker")


def issue(demo: ApiClient, pass_type: str, points: int) -> tuple[str, bytes, WalletDevice]:
    response = demo.create_pass(
        pass_type,
        identifiers={"crm": f"C-{secrets.token_hex(4)}"},
        additionalData={"points": points},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert demo.wait_for_final(accepted["correlationId"])["status"] == "completed"
    download = download_pkpass(demo, accepted["passId"])
    assert download.status_code == 200, download.text
    pass_json = unpack(download.content)["pass.json"]
    token = json.loads(pass_json)["authenticationToken"]
    device = WalletDevice(demo.base_url, accepted["passId"], token)
    assert device.register().status_code == 201
    return accepted["passId"], pass_json, device


def verified(pkpass: bytes, pki: ApplePki, workdir: Path) -> dict[str, bytes]:
    files = unpack(pkpass)
    check_manifest(files)
    result = openssl_verify(files["signature"], files["manifest.json"], pki.root, workdir)
    assert result.returncode == 0, result.stderr
    return files


def rerender(demo: ApiClient, name: str, number: int) -> dict[str, Any]:
    response = activate(demo, name, number, rerender=True)
    assert response.status_code == 202, response.text
    assert response.json()["activeVersion"] == number
    return demo.wait_for_final(response.json()["correlationId"], timeout=60)


def test_new_design_reaches_wallets_and_rolls_back(  # noqa: PLR0917 - pytest injects fixtures by name
    demo: ApiClient,
    settings: Settings,
    fake_apns: FakeApnsControl,
    apple_pki: ApplePki,
    worker: ManagedProcess,
    tmp_path: Path,
) -> None:
    worker_pid = worker.process.pid
    name = f"designs-{secrets.token_hex(3)}"
    first_files = loyalty_files(settings.tenants_dir)

    # A pass type made through the API: its first version is active at once.
    created = put_version(demo, name, zipped(first_files, folder=name))
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["active"]) == (1, True)
    passes = [issue(demo, name, points) for points in (10, 20)]

    # Version 2: a new background colour and strip image. Stored, not yet active.
    new_files = redesigned(first_files)
    stored = put_version(demo, name, zipped(new_files))
    assert stored.status_code == 201, stored.text
    assert (stored.json()["version"], stored.json()["active"]) == (2, False)
    read_back = get_folder(demo, name, 2)
    assert read_back.status_code == 200
    assert read_back.headers["X-Passwire-Version"] == "2"
    assert read_zip(read_back.content) == new_files
    assert get_folder(demo, name).headers["X-Passwire-Version"] == "1"  # still the active one

    # Activate with a re-render: one push per registered device, no worker restart.
    campaign = rerender(demo, name, 2)
    assert campaign["status"] == "completed", campaign
    assert campaign["kind"] == "pushUpdate"
    assert campaign["counters"]["apple"]["pushed"] == 2, campaign
    for index, (_, _, device) in enumerate(passes):
        assert len(fake_apns.pushes(device.push_token)) == 1
        fetched = device.fetch()
        assert fetched.status_code == 200, fetched.text
        files = verified(fetched.content, apple_pki, tmp_path / f"new-{index}")
        assert json.loads(files["pass.json"])["backgroundColor"] == NEW_COLOUR
        manifest = json.loads(files["manifest.json"])
        assert manifest["strip.png"] == sha1(new_files["apple/strip.png"])
        assert files["strip.png"] == new_files["apple/strip.png"]

    # Rollback: version 1 again, the very pass.json each pass had, pushed once more.
    campaign = rerender(demo, name, 1)
    assert campaign["counters"]["apple"]["pushed"] == 2, campaign
    for index, (_, first_pass_json, device) in enumerate(passes):
        assert len(fake_apns.pushes(device.push_token)) == 2
        files = verified(device.fetch().content, apple_pki, tmp_path / f"old-{index}")
        assert files["pass.json"] == first_pass_json
        assert files["strip.png"] == first_files["apple/strip.png"]

    # Activating what is active changes no rendering: nothing signed, nothing pushed.
    campaign = rerender(demo, name, 1)
    assert campaign["counters"]["apple"]["pushed"] == 0, campaign
    assert campaign["counters"]["unchanged"] == 2, campaign
    assert worker.process.pid == worker_pid and worker.process.poll() is None
