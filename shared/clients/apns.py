"""APNs client for Apple Wallet pass update pushes.

A Wallet update push is ``POST /3/device/<pushToken>`` with ``apns-topic:
<passTypeIdentifier>`` and body ``{}`` over HTTP/2 + TLS, authenticated by the pass type
certificate as the TLS client certificate.

Library choice: a small asyncio + ``h2`` client of our own, because it is an order of
magnitude cheaper and the alternatives do not fit. ``bench/apns_bench.py`` against the fake
APNs server in another process (2-core box, 20,000 pushes, median of 3): this client
~240-265 µs client CPU per push at 1,000 concurrent streams (~1,500-1,900 pushes/s, bound
by the fake server); ``httpx[http2]`` ~2,900-3,700 µs per push and ~225-290 pushes/s, and
it never opens more than 100 streams per connection whatever the server allows.
``aioapns`` hard-codes host and port as class attributes (unusable against a test server
without monkeypatching), pulls in pyOpenSSL, flushes once per request and is reported to
break on an empty trailing DATA frame; ``apns2``/``PyAPNs2`` does not run on Python >= 3.10.
Owning the HTTP/2 layer also lets us honour the server's MAX_CONCURRENT_STREAMS (1,000 on
APNs), coalesce hundreds of requests into one write, and re-send exactly the streams a
GOAWAY says were not processed. Two ``h2`` hot spots are worked around (see ``_H2`` and
``_PlainEncoder``).

Process model: :class:`ApnsClient` is a synchronous, thread-safe facade for Celery tasks.
It lazily starts, per process, one daemon thread running an event loop that owns one
long-lived multiplexed connection. It records the pid and rebuilds everything in a forked
child, never touching the parent's socket (closing a TLS transport would write into the
parent's session). :class:`AsyncApnsClient` is the same engine for code already in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import random
import re
import ssl
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import H2Error, NoAvailableStreamIDError
from h2.settings import SettingCodes, Settings
from hpack import Encoder, NeverIndexedHeaderTuple

log = logging.getLogger(__name__)

PRODUCTION_HOST = "api.push.apple.com"
SANDBOX_HOST = "api.sandbox.push.apple.com"

# Reasons meaning "this registration will never work again": the caller removes it.
UNREGISTER_REASONS = frozenset(
    {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"}
)
_TOKEN_RE = re.compile(r"[0-9a-fA-F]{1,200}")  # APNs decides the length; we keep the path safe
_RECEIVE_WINDOW = 1 << 24
_MAX_REFUSED = 5  # free re-sends of streams the server provably did not process


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    UNREGISTER = "unregister"  # remove the registration
    RETRY = "retry"  # transient; only seen by classify(), results end delivered/failed
    FAILED = "failed"


def classify(status: int | None, reason: str | None) -> Outcome:
    """Map an APNs answer (``status`` None: no answer at all) to what the caller does."""
    if status == 200:
        return Outcome.DELIVERED
    if status == 410 or (status == 400 and reason in UNREGISTER_REASONS):
        return Outcome.UNREGISTER
    if status is None or status == 429 or status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


@dataclass(frozen=True, slots=True)
class PushResult:
    token: str
    status: int | None  # HTTP status of the last attempt; None if no response arrived
    reason: str | None  # APNs ``reason``, or a description of the local/connection error
    outcome: Outcome
    attempts: int
    apns_id: str | None = None
    timestamp: int | None = None  # with 410: when the token stopped being valid (ms)


@dataclass(frozen=True)
class ApnsConfig:
    """Where and how to connect. Certificate and key come from PEM files or memory."""

    host: str = PRODUCTION_HOST
    port: int = 443
    cert_file: str | Path | None = None
    key_file: str | Path | None = None  # None: the key is inside cert_file / cert_pem
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    key_password: bytes | None = field(default=None, repr=False)
    ca_file: str | Path | None = None  # None: the system trust store
    max_attempts: int = 3
    backoff_base: float = 0.25  # seconds; doubles per attempt, jittered within [1/2, 1]
    backoff_max: float = 8.0
    connect_timeout: float = 10.0
    request_timeout: float = 10.0
    max_streams: int = 1000  # our cap on concurrent streams; a lower server limit wins
    payload: bytes = b"{}"


class ApnsConnectionError(Exception):
    """No response: the connection failed, closed or timed out.

    ``unprocessed`` is True when the server guarantees it did not act on the request
    (stream above a GOAWAY's last stream id, REFUSED_STREAM, never sent)."""

    def __init__(self, message: str, *, unprocessed: bool = False) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed


def build_ssl_context(config: ApnsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=None if config.ca_file is None else str(config.ca_file)
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    password = config.key_password
    if config.cert_file is not None:
        key = None if config.key_file is None else str(config.key_file)
        context.load_cert_chain(str(config.cert_file), key, password)
    elif config.cert_pem is not None:
        # ssl only loads key material from files: write it to a private temporary
        # directory for the duration of the call.
        with tempfile.TemporaryDirectory(prefix="apns-") as tmp:
            cert_path = Path(tmp, "cert.pem")
            cert_path.touch(mode=0o600)
            cert_path.write_bytes(config.cert_pem + b"\n" + (config.key_pem or b""))
            context.load_cert_chain(str(cert_path), None, password)
    return context


# -- one HTTP/2 connection -------------------------------------------------------------


class _PlainEncoder(Encoder):
    """HPACK without Huffman coding: half the encoding CPU for ~20 more bytes a request."""

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


class _H2(H2Connection):
    """h2 recounts open streams by scanning every stream before opening each new one: O(n)
    per request, over half the client's CPU with 1,000 streams in flight. We prune each
    stream as soon as it closes (:meth:`prune`), so the tracked streams are the open ones
    and counting them is O(1)."""

    @property
    def open_outbound_streams(self) -> int:
        return len(self.streams)

    def prune(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            # What h2's own pruning records, so late frames on the stream are handled.
            self._closed_streams[stream_id] = stream.closed_by


class _Stream:
    __slots__ = ("apns_id", "body", "deadline", "future", "status")

    def __init__(self, future: asyncio.Future[_Stream], deadline: float) -> None:
        self.future = future
        self.deadline = deadline
        self.status = 0
        self.apns_id: bytes | None = None
        self.body = b""


class _Connection(asyncio.Protocol):
    """Client side of one multiplexed APNs connection."""

    def __init__(self, config: ApnsConfig, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._config = config
        self._authority = config.host.encode() + (
            b"" if config.port == 443 else b":%d" % config.port
        )
        self._h2 = _H2(
            H2Configuration(
                client_side=True,
                header_encoding=None,
                # We build our own headers: skip h2's per-request checks (a CPU hot spot).
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
        )
        self._h2.encoder = _PlainEncoder()
        self._h2.local_settings = Settings(
            client=True,
            initial_values={
                SettingCodes.ENABLE_PUSH: 0,
                SettingCodes.INITIAL_WINDOW_SIZE: _RECEIVE_WINDOW,
            },
        )
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._window_waiters: list[asyncio.Future[None]] = []
        self._flush_pending = False
        self._sweeper: asyncio.TimerHandle | None = None
        self._last_received = loop.time()
        self.ready: asyncio.Future[None] = loop.create_future()
        # Consume a failure nobody awaits any more (e.g. after a connect timeout).
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self.draining = False  # GOAWAY received or stream ids exhausted: no new streams
        self.close_reason = "connection closed"

    @property
    def usable(self) -> bool:
        return not (self.closed or self.draining)

    # -- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        ssl_object = cast(ssl.SSLObject | None, transport.get_extra_info("ssl_object"))
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            self.close_reason = "server did not negotiate HTTP/2"
            self._transport.abort()
            return
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(_RECEIVE_WINDOW)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost.set_result(None)
        if exc is not None:
            self.close_reason = f"{type(exc).__name__}: {exc}"
        elif not self.ready.done():
            # With TLS 1.3 a rejected client certificate shows up only as this EOF.
            self.close_reason = "closed during set-up (client certificate rejected?)"
        if not self.ready.done():
            self.ready.set_exception(ApnsConnectionError(self.close_reason))
        self._fail_streams(list(self._streams), unprocessed=False)
        self._wake_all()
        if self._sweeper is not None:
            self._sweeper.cancel()

    def data_received(self, data: bytes) -> None:
        self._last_received = self._loop.time()
        try:
            events = self._h2.receive_data(data)
        except H2Error as err:
            self.close_reason = f"HTTP/2 protocol error: {err}"
            self._flush()
            self.abort()
            return
        for event in events:
            if isinstance(event, ResponseReceived):
                self._on_headers(event)
            elif isinstance(event, DataReceived):
                self._on_data(event)
            elif isinstance(event, StreamEnded):
                self._finish(event.stream_id)
            elif isinstance(event, StreamReset):
                refused = event.error_code == ErrorCodes.REFUSED_STREAM
                self._fail_streams([event.stream_id], unprocessed=refused, why="stream reset")
            elif isinstance(event, RemoteSettingsChanged):
                if not self.ready.done():
                    self.ready.set_result(None)
                self._wake_all()  # the stream limit may have changed
            elif isinstance(event, WindowUpdated):
                self._wake_window_waiters()
            elif isinstance(event, ConnectionTerminated):
                self._on_goaway(event)
        self._flush()

    # -- frame handling ----------------------------------------------------------------

    def _on_headers(self, event: ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        for name, value in event.headers:
            if name == b":status":
                stream.status = int(value)
            elif name == b"apns-id":
                stream.apns_id = value

    def _on_data(self, event: DataReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None and event.data:
            stream.body += event.data
        if event.flow_controlled_length:
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)

    def _finish(self, stream_id: int) -> None:
        self._h2.prune(stream_id)
        stream = self._streams.pop(stream_id, None)
        if stream is not None and not stream.future.done():
            stream.future.set_result(stream)
        self._release_slot()

    def _on_goaway(self, event: ConnectionTerminated) -> None:
        self.draining = True
        detail = (event.additional_data or b"").decode("utf-8", "replace")[:200]
        self.close_reason = f"GOAWAY {event.error_code!s}" + (f" {detail}" if detail else "")
        log.info("apns: %s:%s sent %s", self._config.host, self._config.port, self.close_reason)
        last = event.last_stream_id or 0
        self._fail_streams([i for i in self._streams if i > last], unprocessed=True)
        self._wake_all()

    def _fail_streams(self, ids: Iterable[int], *, unprocessed: bool, why: str = "") -> None:
        message = why or self.close_reason
        for stream_id in ids:
            self._h2.prune(stream_id)
            stream = self._streams.pop(stream_id, None)
            if stream is not None and not stream.future.done():
                stream.future.set_exception(ApnsConnectionError(message, unprocessed=unprocessed))
        self._release_slot()

    # -- slots, flow control, flushing ------------------------------------------------

    def _limit(self) -> int:
        return min(self._config.max_streams, self._h2.remote_settings.max_concurrent_streams)

    def _release_slot(self) -> None:
        free = self._limit() - len(self._streams)
        while free > 0 and self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
        if self.draining and not self._streams and self._transport is not None:
            self._transport.close()

    def _wake_all(self) -> None:
        self._release_slot()
        if not self.usable:
            while self._slot_waiters:
                waiter = self._slot_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
        self._wake_window_waiters()

    def _wake_window_waiters(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _schedule_flush(self) -> None:
        # Coalesce the frames of every request started in this loop iteration into one
        # write: one syscall and one TLS record for hundreds of streams.
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _sweep(self) -> None:
        """Time out overdue streams; abort a connection that went silent."""
        self._sweeper = None
        if self.closed:
            return
        now = self._loop.time()
        overdue = [i for i, s in self._streams.items() if s.deadline <= now]
        for stream_id in overdue:
            with contextlib.suppress(H2Error):
                self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        self._fail_streams(overdue, unprocessed=False, why="timed out waiting for APNs")
        self._flush()
        if overdue and now - self._last_received >= self._config.request_timeout:
            self.close_reason = "connection silent past the request timeout"
            self.abort()
            return
        self._arm_sweeper()

    def _arm_sweeper(self) -> None:
        if self._sweeper is None and self._streams and not self.closed:
            delay = min(1.0, self._config.request_timeout / 4)
            self._sweeper = self._loop.call_later(delay, self._sweep)

    # -- public ------------------------------------------------------------------------

    async def request(self, path: bytes, topic: bytes, body: bytes) -> _Stream:
        """Send one request and wait for its complete response."""
        while self.usable and len(self._streams) >= self._limit():
            waiter = self._loop.create_future()
            self._slot_waiters.append(waiter)
            await waiter
        if not self.usable:
            raise ApnsConnectionError(self.close_reason, unprocessed=True)
        try:
            stream_id = self._h2.get_next_available_stream_id()
        except NoAvailableStreamIDError:
            self.draining = True  # after ~1e9 requests: move on to a fresh connection
            self._release_slot()
            raise ApnsConnectionError("stream ids exhausted", unprocessed=True) from None
        headers = [
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", self._authority),
            # Never indexed: a unique value would only churn the HPACK table, and device
            # tokens are identifiers that deserve RFC 7541's sensitive-header treatment.
            NeverIndexedHeaderTuple(b":path", path),
            (b"apns-topic", topic),
        ]
        try:
            self._h2.send_headers(stream_id, headers, end_stream=not body)
        except H2Error as err:  # e.g. our view of the stream limit lagged h2's
            raise ApnsConnectionError(f"could not open stream: {err}", unprocessed=True) from err
        stream = _Stream(
            self._loop.create_future(), self._loop.time() + self._config.request_timeout
        )
        self._streams[stream_id] = stream
        self._arm_sweeper()
        if body:
            await self._send_body(stream_id, body)
        self._schedule_flush()
        return await stream.future

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        view = memoryview(body)
        while view and stream_id in self._streams:
            size = min(
                len(view),
                self._h2.local_flow_control_window(stream_id),
                self._h2.max_outbound_frame_size,
            )
            if size <= 0:
                self._schedule_flush()
                waiter = self._loop.create_future()
                self._window_waiters.append(waiter)
                await waiter
                continue
            try:
                self._h2.send_data(stream_id, bytes(view[:size]), end_stream=size == len(view))
            except H2Error:
                return  # the connection went away meanwhile; the stream's future says how
            view = view[size:]
        if view:
            # The server answered before the whole body went out: end our half too, or
            # h2 would count the stream as open forever.
            with contextlib.suppress(H2Error):
                self._h2.reset_stream(stream_id, ErrorCodes.NO_ERROR)

    def close(self) -> None:
        """Polite close: GOAWAY, then TLS close."""
        if self._transport is None or self.closed:
            return
        self.draining = True
        with contextlib.suppress(H2Error):
            self._h2.close_connection()
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


# -- async engine ----------------------------------------------------------------------


class AsyncApnsClient:
    """Pushes over one lazily (re)opened connection. Use from a single event loop."""

    def __init__(self, config: ApnsConfig, ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._ssl = ssl_context or build_ssl_context(config)
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None
        self._connect_failure: tuple[float, str] | None = None  # (until, message)
        self._rng = random.Random()  # noqa: S311 - jitter, not crypto
        self.connections_opened = 0

    async def send_pushes(self, topic: str, tokens: Sequence[str]) -> list[PushResult]:
        """Push ``config.payload`` to every token; one result per token, in order."""
        unique = list(dict.fromkeys(tokens))  # a duplicate would only push twice
        results: dict[str, PushResult] = {}
        pending = iter(unique)
        topic_bytes = topic.encode()

        async def worker() -> None:
            for token in pending:
                results[token] = await self._push(topic_bytes, token)

        # max_streams workers rather than a task per token: memory stays bounded for any
        # batch; a lower server limit makes the surplus wait for a free stream slot.
        async with asyncio.TaskGroup() as group:
            for _ in range(min(len(unique), max(1, self.config.max_streams))):
                group.create_task(worker())
        return [results[token] for token in tokens]

    async def send(self, topic: str, token: str) -> PushResult:
        return await self._push(topic.encode(), token)

    async def close(self) -> None:
        """GOAWAY and close the connection, waiting (briefly) until it is gone."""
        if self._connecting is not None:
            self._connecting.cancel()
        connection, self._conn = self._conn, None
        if connection is not None:
            connection.close()
            try:
                async with asyncio.timeout(1.0):
                    await asyncio.shield(connection.lost)
            except TimeoutError:
                connection.abort()

    async def _push(self, topic: bytes, token: str) -> PushResult:
        if not _TOKEN_RE.fullmatch(token):
            # Registrations come from devices; never put arbitrary text into a path.
            return PushResult(token, None, "BadDeviceToken", Outcome.UNREGISTER, 0)
        path = b"/3/device/" + token.encode()
        attempts = refused = 0
        while True:
            attempts += 1
            try:
                connection = await self._connection()
                stream = await connection.request(path, topic, self.config.payload)
            except (ApnsConnectionError, H2Error, OSError, TimeoutError) as err:
                unprocessed = isinstance(err, ApnsConnectionError) and err.unprocessed
                if unprocessed and refused < _MAX_REFUSED:
                    refused += 1
                    attempts -= 1  # not acted on by APNs: re-send at once, uncounted
                    continue
                result = PushResult(token, None, _describe(err), Outcome.RETRY, attempts)
            else:
                result = _result(token, stream, attempts)
            if result.outcome is not Outcome.RETRY:
                return result
            if attempts >= self.config.max_attempts:
                return PushResult(
                    token, result.status, result.reason, Outcome.FAILED, attempts, result.apns_id
                )
            await asyncio.sleep(self._backoff(attempts))

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    async def _connection(self) -> _Connection:
        connection = self._conn
        if connection is not None and connection.usable:
            return connection
        if self._connecting is None:
            failure = self._connect_failure
            loop = asyncio.get_running_loop()
            if failure is not None and loop.time() < failure[0]:
                # Hundreds of waiting pushes must not each redial a failing host.
                raise ApnsConnectionError(failure[1])
            self._connecting = loop.create_task(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        config = self.config
        connection = _Connection(config, loop)
        try:
            async with asyncio.timeout(config.connect_timeout):
                await loop.create_connection(
                    lambda: connection,
                    config.host,
                    config.port,
                    ssl=self._ssl,
                    server_hostname=config.host,
                )
                await connection.ready  # the server's SETTINGS: TLS and HTTP/2 both work
        except BaseException as err:
            connection.abort()
            if not isinstance(err, Exception):
                raise  # cancelled: nothing to report
            failure = ApnsConnectionError(
                f"connect to {config.host}:{config.port} failed: {_describe(err)}"
            )
            self._connect_failure = (loop.time() + config.backoff_base, str(failure))
            raise failure from err
        finally:
            self._connecting = None
        self._connect_failure = None
        self._conn = connection
        self.connections_opened += 1
        log.info("apns: connected to %s:%s", config.host, config.port)
        return connection


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, ApnsConnectionError):
        return text[:200]
    return f"{type(err).__name__}: {text}"[:200]


def _result(token: str, stream: _Stream, attempts: int) -> PushResult:
    reason: str | None = None
    timestamp: int | None = None
    if stream.body:
        try:
            document = json.loads(stream.body)
            reason = document.get("reason")
            timestamp = document.get("timestamp")
        except (ValueError, AttributeError):
            reason = stream.body[:200].decode("utf-8", "replace")
    apns_id = stream.apns_id.decode() if stream.apns_id else None
    outcome = classify(stream.status, reason)
    return PushResult(token, stream.status, reason, outcome, attempts, apns_id, timestamp)


# -- synchronous, fork-aware facade ------------------------------------------------------

_instances: weakref.WeakSet[ApnsClient] = weakref.WeakSet()


class ApnsClient:
    """Synchronous facade for Celery tasks; safe to create at import time, before fork.

    Nothing is started until the first :meth:`send_pushes`; then this process gets one
    event-loop thread and one connection, reused by every later call from any thread.
    """

    def __init__(self, config: ApnsConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: AsyncApnsClient | None = None
        _instances.add(self)

    def send_pushes(self, topic: str, tokens: Sequence[str]) -> list[PushResult]:
        if not tokens:
            return []
        loop, client = self._runtime()
        if threading.current_thread() is self._thread:
            raise RuntimeError("send_pushes() called from the client's own loop thread")
        future = asyncio.run_coroutine_threadsafe(client.send_pushes(topic, tokens), loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Celery's soft time limit interrupting the task
            raise

    @property
    def connections_opened(self) -> int:
        """Connections this process has opened (diagnostics and tests)."""
        client = self._client
        return client.connections_opened if client is not None and self._pid == os.getpid() else 0

    def close(self) -> None:
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            if loop is None or thread is None or client is None or self._pid != os.getpid():
                self._reset()
                return
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()
            self._reset()

    def _runtime(self) -> tuple[asyncio.AbstractEventLoop, AsyncApnsClient]:
        with self._lock:
            if self._pid != os.getpid() or self._loop is None or self._client is None:
                self._reset()  # first use, or a forked child: start from nothing
                context = build_ssl_context(self.config)  # bad files fail the caller now
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="apns-client", daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._client = AsyncApnsClient(self.config, context)
            return self._loop, self._client

    def _reset(self) -> None:
        # Drop, never close, whatever a parent process left: its socket is shared with
        # the parent, and the GC only closes our copy of the file descriptor.
        self._loop = self._thread = self._client = None
        self._pid = None

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the parent may have held it while forking
        self._reset()


_shared: dict[ApnsConfig, ApnsClient] = {}
_shared_lock = threading.Lock()


def shared_client(config: ApnsConfig) -> ApnsClient:
    """This process's client for ``config``: one connection per certificate and host."""
    with _shared_lock:
        client = _shared.get(config)
        if client is None:
            client = _shared[config] = ApnsClient(config)
        return client


def _reset_all_after_fork() -> None:
    global _shared_lock  # noqa: PLW0603 - a lock held by a parent thread stays held in us
    _shared_lock = threading.Lock()
    for client in list(_instances):
        client._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_all_after_fork)
