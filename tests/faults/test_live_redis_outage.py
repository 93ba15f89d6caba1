"""The live server through a Redis outage: its browsers' sockets stay open, and once Redis is
back it subscribes again by itself and their events flow (workers/live_server.py)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import connect

from config.settings import Settings
from shared.links import link_secret
from shared.live.handshake import path_for
from shared.live.publish import live_publish
from shared.live.tokens import channel_key, issue
from tests.faults.tcp_proxy import TcpProxy
from tests.support.processes import ManagedProcess, free_port, wait_until

PASS = "Ed34kg3oA47abcdefghijk"
SUBSCRIBED = "live: subscribed to"


@pytest.fixture
def redis_proxy(settings: Settings) -> Iterator[TcpProxy]:
    target = urlsplit(settings.redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    yield proxy
    proxy.cut()  # closes it


def test_events_flow_again_after_redis_comes_back(
    settings: Settings, stack_env: dict[str, str], redis_proxy: TcpProxy
) -> None:
    port = free_port()
    database = urlsplit(settings.redis_url).path
    env = {**stack_env, "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}{database}"}
    command = [sys.executable, "-m", "workers.live_server", "--host", "127.0.0.1"]
    server = ManagedProcess("live-outage", [*command, "--port", str(port)], env, r"live: serving")
    server.start()
    try:
        secret = link_secret("demo", is_local=True, configured="")
        assert secret is not None
        token = issue(channel_key(secret), "demo", PASS, expires_at=int(time.time()) + 600)
        url = f"ws://127.0.0.1:{port}{path_for('demo', PASS)}?token={token}"
        with connect(url, open_timeout=10) as socket:
            assert json.loads(socket.recv(timeout=10)) == {"type": "live.ready"}

            redis_proxy.cut()
            wait_until(
                lambda: "Redis subscription lost" in server.output(), 30, what="the lost Redis"
            )
            redis_proxy.restore()
            wait_until(
                lambda: server.output().count(SUBSCRIBED) >= 2, 30, what="a new subscription"
            )

            assert live_publish(settings, "demo", PASS, "pass.installed", {"wallet": "apple"})
            event = json.loads(socket.recv(timeout=10))
            assert event["type"] == "pass.installed" and event["data"] == {"wallet": "apple"}
    finally:
        server.stop()
