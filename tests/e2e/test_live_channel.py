"""The live channel per pass, end to end: the API's `/connect` and download page, the live
server as its own process (python -m workers.live_server), Redis pub/sub, the worker, and
headless Chromium watching the page while a device registers through the PassKit web service.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from api.app import create_app
from config.settings import Settings
from dev.fake_google import FakeGoogleControl
from shared.links import link_secret
from shared.live.handshake import path_for
from shared.live.tokens import channel_key, issue
from tests.conftest import DEMO_KEY, RIVAL_KEY
from tests.e2e.test_download_page import (  # noqa: F401 - chromium: a fixture
    chromium,
    page_url,
    show,
    token_for,
)
from tests.e2e.test_google_wallet import CLASS_ID, object_id
from tests.support.api_client import ApiClient
from tests.support.apple import WalletDevice, issue_apple_pass
from tests.support.http_server import serving
from tests.support.processes import ManagedProcess, free_port, wait_until

pytestmark = pytest.mark.usefixtures("worker")

# Generous for the machine's load; the page's own deadline is asserted separately.
RECEIVE_S = 10.0


@dataclasses.dataclass(frozen=True)
class LiveStack:
    api_url: str  # an API whose PASSWIRE_LIVE_URL names the live server below
    live_url: str
    server: ManagedProcess


@pytest.fixture(scope="module")
def live(settings: Settings, stack_env: dict[str, str]) -> Iterator[LiveStack]:
    port = free_port()
    live_url = f"ws://127.0.0.1:{port}"
    app = create_app(dataclasses.replace(settings, live_url=live_url))
    with serving(app) as api_url:
        # The page is served from api_url: its origin is the one allowed (PASSWIRE_PUBLIC_URL).
        env = {**stack_env, "PASSWIRE_PUBLIC_URL": api_url}
        command = [sys.executable, "-m", "workers.live_server", "--host", "127.0.0.1"]
        server = ManagedProcess("live", [*command, "--port", str(port)], env, r"live: serving")
        server.start()
        try:
            yield LiveStack(api_url, live_url, server)
        finally:
            server.stop()


def connect_url(live: LiveStack, pass_id: str, key: str = DEMO_KEY) -> requests.Response:
    return requests.get(
        f"{live.api_url}/api/demo/passes/{pass_id}/connect",
        headers={"X-API-Key": key},
        timeout=10,
    )


@contextmanager
def watch(live: LiveStack, pass_id: str) -> Iterator[ClientConnection]:
    """A socket on the pass's channel, once the server says it is subscribed."""
    response = connect_url(live, pass_id)
    assert response.status_code == 200, response.text
    with connect(response.json()["url"], open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=RECEIVE_S)) == {"type": "live.ready"}
        yield socket


def next_event(socket: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(socket.recv(timeout=RECEIVE_S))
    return event


def device_for(live: LiveStack) -> WalletDevice:
    return issue_apple_pass(ApiClient(live.api_url, "demo", DEMO_KEY), live.api_url)


def test_connect_answers_a_channel_url(live: LiveStack) -> None:
    device = device_for(live)
    response = connect_url(live, device.serial)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["url"].startswith(f"{live.live_url}/live/demo/{device.serial}?token=")
    assert 0 < body["expiresAt"] - time.time() <= 300 + 5
    assert connect_url(live, "Ed34kg3oA47abcdefghijk").status_code == 404
    assert connect_url(live, device.serial, key=RIVAL_KEY).status_code == 403


def test_connect_without_a_live_server_says_which_setting(api_url: str, demo: ApiClient) -> None:
    # The session's API names no PASSWIRE_LIVE_URL.
    device = issue_apple_pass(demo, api_url)
    response = demo.session.get(demo.url(f"/passes/{device.serial}/connect"), timeout=10)
    assert response.status_code == 503
    assert response.json()["errors"] == [{"field": "PASSWIRE_LIVE_URL", "reason": "not configured"}]


def test_a_socket_gets_its_own_pass_events_only(live: LiveStack, demo: ApiClient) -> None:
    mine, other = device_for(live), device_for(live)
    with watch(live, mine.serial) as socket, watch(live, other.serial) as other_socket:
        # The other pass's events first: were they delivered here, they would come first.
        assert other.register().status_code == 201
        assert other.unregister().status_code == 200
        assert mine.register().status_code == 201
        installed = next_event(socket)
        assert installed["type"] == "pass.installed" and installed["passId"] == mine.serial
        assert installed["data"] == {"wallet": "apple"}
        # ...and they were published: the other pass's socket saw both.
        assert [next_event(other_socket)["type"] for _ in range(2)] == [
            "pass.installed",
            "pass.uninstalled",
        ]

        # From a worker: the update job's pass.updated.
        patched = demo.session.patch(
            demo.url(f"/passes/{mine.serial}"), json={"additionalData": {"points": 99}}, timeout=10
        )
        assert patched.status_code == 202, patched.text
        updated = next_event(socket)
        assert updated["type"] == "pass.updated" and updated["passId"] == mine.serial

        # A status change: announced by its refresh job.
        voided = demo.session.put(
            demo.url(f"/passes/{mine.serial}/status"), json={"status": "voided"}, timeout=10
        )
        assert voided.status_code == 202, voided.text
        events = [next_event(socket) for _ in range(2)]
        assert {event["type"] for event in events} == {"pass.updated", "pass.status"}
        status = next(event for event in events if event["type"] == "pass.status")
        assert status["data"] == {"status": "voided"}

        assert mine.unregister().status_code == 200
        assert next_event(socket)["type"] == "pass.uninstalled"
        assert all(event["passId"] == mine.serial for event in [installed, updated, *events])


def refused_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=10, **kwargs)
    return refused.value.response.status_code


def test_forged_expired_and_foreign_tokens_are_refused(live: LiveStack) -> None:
    mine, other = device_for(live), device_for(live)
    secret = link_secret("demo", is_local=True, configured="")
    assert secret is not None
    key = channel_key(secret)
    base = f"{live.live_url}{path_for('demo', mine.serial)}"
    expired = issue(key, "demo", mine.serial, expires_at=int(time.time()) - 1)
    others = issue(key, "demo", other.serial, expires_at=int(time.time()) + 60)
    forged = issue(channel_key(b"f" * 32), "demo", mine.serial, expires_at=int(time.time()) + 60)
    link_token = token_for(mine.serial)  # a download link's token opens no channel

    assert refused_status(base) == 401
    assert refused_status(f"{base}?token={forged}") == 401
    assert refused_status(f"{base}?token={others}") == 401
    assert refused_status(f"{base}?token={link_token}") == 401
    assert refused_status(f"{base}?token={expired}") == 403
    good = connect_url(live, mine.serial).json()["url"]
    assert refused_status(good, origin="https://evil.example.net") == 403  # type: ignore[arg-type]
    rival = good.replace("/live/demo/", "/live/rival/")
    assert refused_status(rival) == 401
    with connect(good, origin=live.api_url, open_timeout=10) as socket:  # type: ignore[arg-type]
        assert json.loads(socket.recv(timeout=RECEIVE_S)) == {"type": "live.ready"}


def test_the_page_shows_the_install_as_it_happens(
    chromium: webdriver.Chrome,  # noqa: F811 - the download page test's fixture
    live: LiveStack,
    fake_google: FakeGoogleControl,
) -> None:
    device = device_for(live)
    chromium.get(page_url(live.api_url, device.serial, t=token_for(device.serial)))
    status = chromium.find_element(By.ID, "wallet-status")
    assert not status.is_displayed()
    wait_until(
        lambda: chromium.execute_script("return document.body.dataset.live") == "ready",
        RECEIVE_S,
        what="the page's live channel",
    )
    chromium.execute_script("window.notReloaded = true")

    assert device.register().status_code == 201
    # Published before the registration's 201 went out: the page has a second from there.
    wait_until(
        lambda: status.is_displayed() and status.text == "Added to Apple Wallet ✓",
        1.0,
        interval=0.02,
        what="'Added to Apple Wallet ✓' on the page",
    )
    assert chromium.execute_script("return window.notReloaded === true")
    show(chromium, 1280, mobile=False, name="download-page-live.png")  # for humans

    def shows(text: str) -> bool:
        return bool(status.is_displayed() and status.text == text)

    # Google's save callback, then each wallet letting the pass go.
    callback = {"class_id": CLASS_ID, "object_id": object_id(device.serial)}
    callbacks = f"{live.api_url}/google/demo/callbacks"
    saved = fake_google.send_callback(callbacks, **callback, event_type="save")
    assert saved["status"] == 200, saved
    both = "Added to Apple Wallet ✓ · Saved to Google Wallet ✓"
    wait_until(lambda: shows(both), RECEIVE_S, what="both wallets on the page")
    assert device.unregister().status_code == 200
    wait_until(lambda: shows("Saved to Google Wallet ✓"), RECEIVE_S, what="Google's alone")
    deleted = fake_google.send_callback(callbacks, **callback, event_type="del")
    assert deleted["status"] == 200, deleted
    wait_until(lambda: not status.is_displayed(), RECEIVE_S, what="the install state to go")
    assert chromium.execute_script("return window.notReloaded === true")

    logs = chromium.get_log("browser")  # type: ignore[no-untyped-call]
    assert not [entry for entry in logs if entry["level"] == "SEVERE"], logs
    csp = requests.get(
        page_url(live.api_url, device.serial, t=token_for(device.serial)), timeout=10
    ).headers["Content-Security-Policy"]
    assert f"connect-src {live.live_url}" in csp and "script-src 'nonce-" in csp
    assert "unsafe" not in csp


def test_a_redemption_is_announced(live: LiveStack) -> None:
    client = ApiClient(live.api_url, "demo", DEMO_KEY)
    created = client.create_pass("voucher", identifiers={"code": secrets.token_hex(6)})
    assert created.status_code == 202, created.text
    pass_id = created.json()["passId"]
    client.wait_for_final(created.json()["correlationId"])
    with watch(live, pass_id) as socket:
        redeemed = client.session.post(client.url(f"/passes/{pass_id}/redeem"), json={}, timeout=10)
        assert redeemed.status_code == 202, redeemed.text
        events = [next_event(socket) for _ in range(2)]
    assert {event["type"] for event in events} == {"pass.updated", "pass.redeemed"}
    (announced,) = [event for event in events if event["type"] == "pass.redeemed"]
    assert announced["passId"] == pass_id and announced["data"] == {"status": "redeemed"}
