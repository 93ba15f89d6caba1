"""The fake APNs server: TLS listener, connection bookkeeping, in-process start/stop."""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from pathlib import Path
from types import TracebackType

from dev.fake_apns.control import start_control_server
from dev.fake_apns.protocol import ApnsServerProtocol, ServerOptions
from dev.fake_apns.state import FakeApnsState, PushRecord


def server_ssl_context(cert: Path | str, key: Path | str, client_ca: Path | str) -> ssl.SSLContext:
    """TLS as APNs does it: HTTP/2 only, and a client certificate is mandatory."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    context.load_verify_locations(cafile=str(client_ca))
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    return context


class FakeApnsServer:
    """Run with ``async with``/:meth:`serve_forever` inside a loop, or :meth:`start` /
    :meth:`stop` from synchronous tests (the server then owns a background thread)."""

    def __init__(
        self,
        cert: Path | str,
        key: Path | str,
        client_ca: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int | None = None,
        options: ServerOptions | None = None,
        seed: int | None = None,
    ) -> None:
        self.state = FakeApnsState(seed)
        self.options = options or ServerOptions()
        self.host = host
        self.port = port
        self.control_port = control_port
        self._ssl = server_ssl_context(cert, key, client_ca)
        self._servers: list[asyncio.Server] = []
        # Weak: a protocol whose TLS handshake fails never hears connection_lost.
        self._connections: weakref.WeakSet[ApnsServerProtocol] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # -- asyncio API -------------------------------------------------------------------

    async def start_async(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopped = asyncio.Event()
        server = await loop.create_server(self._protocol, self.host, self.port, ssl=self._ssl)
        self.port = server.sockets[0].getsockname()[1]
        self._servers.append(server)
        if self.control_port is not None:
            control = await start_control_server(self, self.host, self.control_port)
            self.control_port = control.sockets[0].getsockname()[1]
            self._servers.append(control)

    async def stop_async(self) -> None:
        for server in self._servers:
            server.close()
        self._drop_now()
        for _ in range(100):  # aborted transports finish closing on later loop iterations
            if not any(connection.is_open for connection in self._connections):
                break
            await asyncio.sleep(0)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._stopped is not None:
            self._stopped.set()

    async def serve_forever(self) -> None:
        """Serve until :meth:`stop_async` (or cancellation)."""
        if not self._servers:
            await self.start_async()
        assert self._stopped is not None
        await self._stopped.wait()

    async def __aenter__(self) -> FakeApnsServer:
        await self.start_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_async()

    # -- thread API --------------------------------------------------------------------

    def start(self) -> FakeApnsServer:
        """Start on a background thread with its own event loop; returns when listening."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as err:  # surfaced to the caller of start()
                failure.append(err)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-apns", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            await self.stop_async()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FakeApnsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for tests -------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def pushes(self, token: str | None = None) -> list[PushRecord]:
        return self.state.pushes(token)

    def pushed_tokens(self) -> set[str]:
        return self.state.pushed_tokens()

    def drop_connections(self) -> None:
        """Abort every client connection without GOAWAY (safe from any thread)."""
        loop = self._loop
        if loop is None:
            return
        if self._thread is not None and threading.current_thread() is not self._thread:
            done = threading.Event()

            def drop() -> None:
                self._drop_now()
                done.set()

            loop.call_soon_threadsafe(drop)
            done.wait(timeout=10)
        else:
            self._drop_now()

    def _drop_now(self) -> None:
        for connection in list(self._connections):
            connection.abort()

    def _protocol(self) -> ApnsServerProtocol:
        connection = ApnsServerProtocol(self.state, self.options, self._connections.discard)
        self._connections.add(connection)
        return connection
