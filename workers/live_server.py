"""The live channel server: one asyncio process holding the browsers' WebSockets, fed by
Redis pub/sub (docs/api.md#live-channel, docs/operations.md#live-channel):

    python -m workers.live_server [--host 0.0.0.0] [--port $PASSWIRE_LIVE_PORT]

The handshake is judged before any upgrade (shared/live/handshake.py): a missing, forged or
other pass's token gets 401, an expired token or a foreign page's Origin 403, a full server
503. An accepted socket is told `{"type": "live.ready"}`, then receives its pass's events as
they are published (shared/live/publish.py), and nothing else; what it sends is discarded.

One thread reads Redis: a pattern subscription to every pass channel, through the one Redis
client factory (so Sentinel URLs work), re-subscribing after a dropped connection. Events
published while it is away are not replayed: the page shows the state it was rendered with,
and the next event. Each message is handed to the event loop, which writes it to the sockets
of that channel only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import signal
import sys
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from http import HTTPStatus

import redis
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

from config.settings import Settings, load_settings
from shared.infra.logs import configure_logging
from shared.infra.redis_clients import process_client
from shared.links import link_secret
from shared.live.channels import PATTERN
from shared.live.handshake import Accepted, Refused, decide
from shared.live.tokens import channel_key
from shared.tenancy.tenants import Tenant, TenantRegistry, load_registry

log = logging.getLogger(__name__)

READY = '{"type":"live.ready"}'
# Browsers send nothing but pings and the close: anything larger is not a client of ours.
MAX_FRAME_BYTES = 1024
# Redis reconnects: a short wait first, then no faster than every few seconds.
_RETRY_S = (0.2, 1.0, 3.0)
# A quiet subscription is pinged this often: a connection dropped on the way (a proxy, a
# fail-over) shows up as an error instead of as silence.
_PING_EVERY_S = 30.0


class Hub:
    """The open sockets by channel; touched only from the event loop."""

    def __init__(self) -> None:
        self._sockets: defaultdict[str, set[ServerConnection]] = defaultdict(set)
        self.open = 0

    def add(self, channel: str, socket: ServerConnection) -> None:
        self._sockets[channel].add(socket)
        self.open += 1

    def remove(self, channel: str, socket: ServerConnection) -> None:
        sockets = self._sockets.get(channel)
        if sockets is not None and socket in sockets:
            sockets.discard(socket)
            self.open -= 1
            if not sockets:
                del self._sockets[channel]

    def deliver(self, channel: str, text: str) -> None:
        sockets = self._sockets.get(channel)
        if sockets:
            # Never waits on a socket: a slow one buffers (events are rare per pass), and one
            # that stops answering is closed by websockets' keepalive ping.
            broadcast(sockets, text)


def listen_to_redis(
    settings: Settings,
    deliver: Callable[[str, str], None],
    subscribed: threading.Event,
    stop: threading.Event,
) -> None:
    """Read every live message from Redis and pass it to `deliver` (thread-safe)."""
    failures = 0
    while not stop.is_set():
        try:
            client = process_client(
                settings.redis_url, sentinel_password=settings.redis_sentinel_password
            )
            with client.pubsub() as pubsub:
                pubsub.psubscribe(PATTERN)
                pinged = time.monotonic()
                while not stop.is_set():
                    if time.monotonic() - pinged > _PING_EVERY_S:
                        pubsub.ping()
                        pinged = time.monotonic()
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "pmessage":
                        deliver(message["channel"].decode(), message["data"].decode())
                    elif message["type"] == "psubscribe":
                        # Redis confirmed it (again, after redis-py reconnected by itself).
                        subscribed.set()
                        failures = 0
                        log.info("live: subscribed to %s", PATTERN)
        except (redis.RedisError, OSError) as exc:
            subscribed.clear()
            wait = _RETRY_S[min(failures, len(_RETRY_S) - 1)]
            failures += 1
            log.warning("live: Redis subscription lost (%s); again in %.1fs", exc, wait)
            stop.wait(wait)


class LiveServer:
    def __init__(self, settings: Settings, tenants: TenantRegistry) -> None:
        self.settings = settings
        self.tenants = tenants
        self.hub = Hub()
        # From the handshake to the handler; weak: a handshake failing after the check leaves
        # nothing behind.
        self._accepted: weakref.WeakKeyDictionary[ServerConnection, Accepted] = (
            weakref.WeakKeyDictionary()
        )

    def _key_for(self, tenant_id: str) -> bytes | None:
        settings = self.settings
        secret = link_secret(tenant_id, is_local=settings.is_local, configured=settings.link_secret)
        return None if secret is None else channel_key(secret)

    def _find_tenant(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer the handshake with an HTTP error, or let it upgrade (None)."""
        if self.hub.open + len(self._accepted) >= self.settings.live_max_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections.\n")
        verdict = decide(
            request.path,
            request.headers.get("Origin"),
            find_tenant=self._find_tenant,
            key_for=self._key_for,
            public_base_url=self.settings.public_base_url,
            now=int(time.time()),
        )
        if isinstance(verdict, Refused):
            log.info("live: refused %d (%s)", verdict.status, verdict.reason)
            return connection.respond(verdict.status, f"{verdict.reason}\n")
        self._accepted[connection] = verdict
        return None

    async def handle(self, socket: ServerConnection) -> None:
        accepted = self._accepted.pop(socket)
        self.hub.add(accepted.channel, socket)
        try:
            await socket.send(READY)
            async for _ in socket:  # pings and the close are handled by websockets
                pass
        finally:
            self.hub.remove(accepted.channel, socket)

    def deliver_threadsafe(self, loop: asyncio.AbstractEventLoop) -> Callable[[str, str], None]:
        def deliver(channel: str, text: str) -> None:
            loop.call_soon_threadsafe(self.hub.deliver, channel, text)

        return deliver


def raise_open_files_limit() -> int:
    """Each socket is a file descriptor: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def run(settings: Settings, host: str, port: int) -> None:
    tenants = load_registry(settings.tenants_dir, include_local_only=settings.is_local)
    live = LiveServer(settings, tenants)
    loop = asyncio.get_running_loop()
    stopping: asyncio.Future[None] = loop.create_future()

    def stop_serving() -> None:
        if not stopping.done():
            stopping.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_serving)
    subscribed, stop = threading.Event(), threading.Event()
    reader = threading.Thread(
        target=listen_to_redis,
        args=(settings, live.deliver_threadsafe(loop), subscribed, stop),
        name="live-redis",
        daemon=True,
    )
    reader.start()
    # Sockets are accepted only once events can reach them.
    await asyncio.to_thread(subscribed.wait)
    async with serve(
        live.handle,
        host,
        port,
        process_request=live.process_request,
        compression=None,  # tiny JSON messages: deflate state would cost memory per socket
        max_size=MAX_FRAME_BYTES,
        max_queue=4,
        server_header=None,
    ) as server:
        log.info(
            "live: serving ws://%s:%d (at most %d connections, %d open files)",
            host,
            _bound_port(server),
            settings.live_max_connections,
            raise_open_files_limit(),
        )
        await stopping
        log.info("live: stopping, closing %d connections", live.hub.open)
    stop.set()


def _bound_port(server: Server) -> int:
    return int(server.sockets[0].getsockname()[1]) if server.sockets else 0


def main(argv: list[str]) -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    parser = argparse.ArgumentParser(prog="python -m workers.live_server")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - browsers connect from anywhere
    parser.add_argument("--port", type=int, default=settings.live_port)
    args = parser.parse_args(argv)
    asyncio.run(run(settings, args.host, args.port))


if __name__ == "__main__":
    main(sys.argv[1:])
