"""APNs client for Apple Wallet pass update pushes.

A Wallet update push is ``POST /3/device/<pushToken>`` with ``apns-topic:
<passTypeIdentifier>`` and body ``{}`` over HTTP/2 + TLS, authenticated by the pass type
certificate as the TLS client certificate.

Library choice: a small asyncio HTTP/2 client of our own, because it is one to two orders
of magnitude cheaper and the alternatives do not fit. ``bench/apns_bench.py`` against the
fake APNs server in another process (2-core box shared with other work, load average
2.0-3.3; 20,000 pushes x 3 runs per invocation, medians of five invocations, three of
them alternating with the previous client): this client 23-27 µs client CPU per push at
1,000 concurrent streams, 1,500-2,600 pushes/s (bound by the Python fake server); the
previous version of this module (asyncio + ``h2``) 266-303 µs and 1,100-1,300 pushes/s
under the same load (229 µs at load ~1); ``httpx[http2]``
~2,900-3,700 µs and ~225-290 pushes/s, never more than 100 streams per connection.
``aioapns`` hard-codes host and port as class attributes (unusable against a test server
without monkeypatching), pulls in pyOpenSSL, flushes once per request and is reported to
break on an empty trailing DATA frame; ``apns2``/``PyAPNs2`` does not run on Python >= 3.10.

Design (what the CPU went into before, and what replaced it):

* HTTP/2 itself (RFC 9113), without ``h2``: its state machines, event objects, header
  validation and frame classes, with ``hpack`` under them, took ~75% of the previous
  client's CPU (cProfile, 1,000 streams in flight). :class:`_Connection` writes HEADERS
  and DATA frames itself and parses frames with one ``struct`` call each. It keeps what
  correctness needs: the server's MAX_CONCURRENT_STREAMS (and changes to it), send windows
  per connection and stream (a body waits for WINDOW_UPDATE when it does not fit;
  INITIAL_WINDOW_SIZE changes apply to waiting bodies), our receive windows (given back
  with WINDOW_UPDATE), MAX_FRAME_SIZE, CONTINUATION, padding, PING answers, RST_STREAM
  (REFUSED_STREAM is re-sent for free), GOAWAY (streams above its last stream id are
  re-sent for free on a new connection, the connection closes once the rest are
  answered), and protocol violations, which end the connection with GOAWAY and an error
  code. ``h2`` remains the reference peer in the tests and runs the fake server.
* HPACK (RFC 7541): requests are a few static-table bytes, the constant fields
  (``:authority``, ``apns-topic``, ``content-length``) indexed into the server's dynamic
  table once per connection (:class:`_RequestEncoder` mirrors it exactly; ``:path`` is a
  never-indexed literal), so a request is an 81-byte block built by concatenation. The
  response decoder (:class:`_HpackDecoder`) has the dynamic table and Huffman decoding a
  byte at a time from a memoised table, ~3x faster than ``hpack``'s nibble loop.
* No per-push asyncio objects: a ``send_pushes`` call queues its requests and waits on one
  future; the connection opens streams from the queue whenever slots free up and hands
  answers back in its ``data_received`` callback, where results and retries (429/5xx with
  jittered exponential backoff, timeouts, connection loss) are decided. All frames of a
  loop iteration go out in one write, so TLS and syscalls cost ~1 µs a push.

Where the remaining ~25 µs go (py-spy at 1 kHz, loop busy samples only): HPACK decoding
of responses ~49% (Huffman of the unique ``apns-id`` alone ~30%), reading status and
``apns-id`` ~8%, results and retry decisions ~19% (the frozen ``PushResult`` ~8%), frame
parsing ~6%, opening streams and writing (TLS included) ~8%, queueing a batch (token
check, per-token state) ~6%, TLS reads ~1%. Nothing left is per-write or per-read
overhead; what remains is Python work proportional to the pushes themselves.

Process model: :class:`ApnsClient` is a synchronous, thread-safe facade for Celery tasks.
It lazily starts, per process, one daemon thread running an event loop that owns one
long-lived multiplexed connection. It records the pid and rebuilds everything in a forked
child, never touching the parent's socket (closing a TLS transport would write into the
parent's session). :class:`AsyncApnsClient` is the same engine for code already in a loop;
concurrent ``send_pushes`` calls share its connection and take turns for stream slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import json
import logging
import os
import random
import re
import ssl
import struct
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable

log = logging.getLogger(__name__)

PRODUCTION_HOST = "api.push.apple.com"
SANDBOX_HOST = "api.sandbox.push.apple.com"

# Reasons meaning "this registration will never work again": the caller removes it.
UNREGISTER_REASONS = frozenset(
    {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"}
)
_TOKEN_RE = re.compile(r"[0-9a-fA-F]{1,200}")  # APNs decides the length; we keep the path safe
_MAX_REFUSED = 5  # free re-sends of requests the server provably did not process


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


# -- HTTP/2 (RFC 9113) and HPACK (RFC 7541) essentials -----------------------------------

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME = struct.Struct(">IBI")  # (length << 8 | type, flags, stream id): a frame header
_SETTING = struct.Struct(">HI")
_GOAWAY_HEAD = struct.Struct(">II")
# Frame types.
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
_PUSH_PROMISE, _PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
# Flags.
_END_STREAM = _ACK = 0x1
_END_HEADERS = 0x4
_PADDED = 0x8
_PRIORITY_FLAG = 0x20
# Error codes (names for messages).
_ERROR_NAMES = (
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
)
_NO_ERROR, _PROTOCOL_ERROR, _FLOW_CONTROL_ERROR, _FRAME_SIZE_ERROR = 0x0, 0x1, 0x3, 0x6
_REFUSED_STREAM, _CANCEL, _COMPRESSION_ERROR = 0x7, 0x8, 0x9
# Settings.
_HEADER_TABLE_SIZE, _ENABLE_PUSH, _MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
_INITIAL_WINDOW_SIZE, _MAX_FRAME_SIZE, _MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6

_MAX_WINDOW = (1 << 31) - 1
_MAX_STREAM_ID = (1 << 31) - 1
_DEFAULT_WINDOW = 65_535
_FRAME_LIMIT = 16_384  # our SETTINGS_MAX_FRAME_SIZE: the protocol default, never raised
_HEADER_LIST_LIMIT = 65_536  # our SETTINGS_MAX_HEADER_LIST_SIZE (advisory; enforced here)
_HPACK_TABLE_SIZE = 4_096  # our SETTINGS_HEADER_TABLE_SIZE: the protocol default
_RECEIVE_WINDOW = 1 << 24  # per stream and for the connection
_MAX_BODY = 4_096  # response body bytes kept per stream (APNs sends ~50)

_CLIENT_SETTINGS = (
    _SETTING.pack(_ENABLE_PUSH, 0)
    + _SETTING.pack(_INITIAL_WINDOW_SIZE, _RECEIVE_WINDOW)
    + _SETTING.pack(_MAX_HEADER_LIST_SIZE, _HEADER_LIST_LIMIT)
)
_CONNECTION_START = (
    _PREFACE
    + _FRAME.pack(len(_CLIENT_SETTINGS) << 8 | _SETTINGS, 0, 0)
    + _CLIENT_SETTINGS
    + _FRAME.pack(4 << 8 | _WINDOW_UPDATE, 0, 0)
    + (_RECEIVE_WINDOW - _DEFAULT_WINDOW).to_bytes(4, "big")
)
_SETTINGS_ACK = _FRAME.pack(_SETTINGS, _ACK, 0)


def _error_name(code: int) -> str:
    return _ERROR_NAMES[code] if code < len(_ERROR_NAMES) else f"error 0x{code:x}"


class _ProtocolError(Exception):
    """The server broke HTTP/2: a connection error (GOAWAY with ``code``, then close)."""

    def __init__(self, message: str, code: int = _PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


class _HpackError(Exception):
    pass


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_str(data: bytes) -> bytes:
    """A string literal without Huffman coding: free to build, and the one literal sent
    per request (the token path) would shrink by only ~20 bytes."""
    return _hpack_int(len(data), 7) + data


def _build_huffman() -> tuple[list[int], list[int], list[int], list[int]]:
    """The RFC 7541 Huffman code as a binary tree: (zero child, one child, symbol or -1)
    per node, and the internal nodes (the decoder's states, the root first)."""
    zero, one, symbol = [-1], [-1], [-1]
    for sym, (code, length) in enumerate(zip(REQUEST_CODES, REQUEST_CODES_LENGTH, strict=True)):
        node = 0
        for shift in range(length - 1, -1, -1):
            children = one if code >> shift & 1 else zero
            if children[node] == -1:
                children[node] = len(symbol)
                zero.append(-1)
                one.append(-1)
                symbol.append(-1)
            node = children[node]
        symbol[node] = sym
    internal = [node for node, sym in enumerate(symbol) if sym == -1]
    return zero, one, symbol, internal


_HUFF_ZERO, _HUFF_ONE, _HUFF_SYMBOL, _HUFF_NODES = _build_huffman()
_HUFF_STATE = {node: index << 8 for index, node in enumerate(_HUFF_NODES)}


def _accepting_states() -> frozenset[int]:
    # Valid padding: at most 7 bits, all ones (a prefix of EOS).
    node, states = 0, {0}
    for _ in range(7):
        node = _HUFF_ONE[node]
        states.add(_HUFF_STATE[node])
    return frozenset(states)


_HUFF_ACCEPT = _accepting_states()
# (state << 8 | input byte) -> (decoded bytes, next state), filled in on first use: a
# byte at a time instead of hpack's nibble at a time, ~3x faster.
_HUFF_TABLE: list[tuple[bytes, int] | None] = [None] * (len(_HUFF_NODES) << 8)


def _huffman_step(key: int) -> tuple[bytes, int]:
    node, out = _HUFF_NODES[key >> 8], bytearray()
    for shift in range(7, -1, -1):
        node = (_HUFF_ONE if key >> shift & 1 else _HUFF_ZERO)[node]
        sym = _HUFF_SYMBOL[node]
        if sym >= 0:
            if sym == 256:
                raise _HpackError("EOS in a Huffman string")
            out.append(sym)
            node = 0
    entry = _HUFF_TABLE[key] = (bytes(out), _HUFF_STATE[node])
    return entry


def _huffman_decode(data: bytes) -> bytes:
    table = _HUFF_TABLE
    out = []
    state = 0
    for byte in data:
        emitted, state = table[state | byte] or _huffman_step(state | byte)
        if emitted:
            out.append(emitted)
    if state not in _HUFF_ACCEPT:
        raise _HpackError("invalid Huffman padding")
    return b"".join(out)


def _read_int(data: bytes, pos: int, mask: int) -> tuple[int, int]:
    value = data[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise _HpackError("integer too large")


def _read_str(data: bytes, pos: int) -> tuple[bytes, int]:
    huffman = data[pos] & 0x80
    length, pos = _read_int(data, pos, 0x7F)
    end = pos + length
    if end > len(data):
        raise _HpackError("truncated string")
    raw = data[pos:end]
    return (_huffman_decode(raw) if huffman else raw), end


_STATIC_TABLE: tuple[tuple[bytes, bytes], ...] = HeaderTable.STATIC_TABLE


class _HpackDecoder:
    """RFC 7541 decoder state for one connection: static and dynamic table, Huffman.

    Every header block the server sends must go through it, in order, even for streams
    we no longer care about, or the dynamic table falls out of step."""

    def __init__(self) -> None:
        self._dynamic: deque[tuple[bytes, bytes]] = deque()
        self._size = 0
        self._max_size = _HPACK_TABLE_SIZE

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        try:
            return self._decode(block)
        except IndexError:
            raise _HpackError("truncated header block") from None

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        pos, end, total = 0, len(block), 0
        while pos < end:
            first = block[pos]
            if first & 0x80:  # indexed field
                index, pos = _read_int(block, pos, 0x7F)
                header = self._field(index)
            else:
                if first & 0x40:  # literal, incremental indexing
                    index, pos = _read_int(block, pos, 0x3F)
                elif first & 0x20:  # dynamic table size update
                    if headers:
                        raise _HpackError("table size update after a header field")
                    size, pos = _read_int(block, pos, 0x1F)
                    if size > _HPACK_TABLE_SIZE:
                        raise _HpackError(f"table size {size} above our limit")
                    self._max_size = size
                    self._evict()
                    continue
                else:  # literal without indexing / never indexed
                    index, pos = _read_int(block, pos, 0x0F)
                if index:
                    name = self._field(index)[0]
                else:
                    name, pos = _read_str(block, pos)
                value, pos = _read_str(block, pos)
                header = (name, value)
                if first & 0x40:
                    self._insert(header)
            total += len(header[0]) + len(header[1]) + 32
            if total > _HEADER_LIST_LIMIT:
                raise _HpackError("header list too large")
            headers.append(header)
        return headers

    def _field(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= len(_STATIC_TABLE):
            return _STATIC_TABLE[index - 1]
        index -= len(_STATIC_TABLE) + 1
        if 0 <= index < len(self._dynamic):
            return self._dynamic[index]
        raise _HpackError(f"invalid table index {index}")

    def _insert(self, header: tuple[bytes, bytes]) -> None:
        size = len(header[0]) + len(header[1]) + 32
        if size > self._max_size:
            self._dynamic.clear()
            self._size = 0
            return
        self._dynamic.appendleft(header)
        self._size += size
        self._evict()

    def _evict(self) -> None:
        while self._size > self._max_size:
            name, value = self._dynamic.pop()
            self._size -= len(name) + len(value) + 32


# Request header field for the path: literal never indexed (RFC 7541 6.2.3) with the
# static name ``:path``. A unique value would only churn an HPACK table, and device
# tokens are identifiers that deserve the sensitive-header treatment.
_PATH_PREFIX = b"/3/device/"
_PATH_HEADS = [b"\x14" + _hpack_int(len(_PATH_PREFIX) + n, 7) + _PATH_PREFIX for n in range(201)]


class _RequestEncoder:
    """HPACK for our requests on one connection (RFC 7541).

    The constant fields (``:authority``, ``apns-topic``, ``content-length``) go into the
    server's dynamic table on first use and cost a byte each afterwards: smaller requests,
    and far less decoding for the server (hpack, as in our fake server, needs ~50 µs more
    per request for the literals). ``:path`` is a never-indexed literal, so the table only
    ever holds what we put there and this mirror of it is exact. Header blocks built here
    must go out in the order they are built."""

    def __init__(self, authority: bytes, content_length: bytes) -> None:
        self._authority = authority
        self._content_length = content_length
        self._entries: deque[tuple[bytes, bytes]] = deque()  # newest first
        self._size = 0
        self._max_size = _HPACK_TABLE_SIZE  # the protocol default until the server differs
        self._resize: tuple[int, int] | None = None  # (smallest, final) size to announce
        self._changed = False
        self._templates: dict[bytes, tuple[bytes, bytes]] = {}  # valid while entries stay

    def set_limit(self, setting: int) -> None:
        """The server's SETTINGS_HEADER_TABLE_SIZE (now acknowledged by us) changed."""
        size = min(setting, _HPACK_TABLE_SIZE)
        if self._resize is not None:
            self._resize = (min(self._resize[0], size), size)
        elif size != self._max_size:
            self._resize = (size, size)
            self._templates.clear()  # the next block must start with the update

    def template(self, topic: bytes) -> tuple[bytes, bytes, bool]:
        """The header block before and after the path field, and whether the next request
        for ``topic`` may reuse it (not when this one changes the table)."""
        cached = self._templates.get(topic)
        if cached is not None:
            return cached[0], cached[1], True
        self._changed = False
        pre = (
            self._size_updates()
            + b"\x83"  # :method POST (static index 3)
            + b"\x87"  # :scheme https (static index 7)
            + self._field(b":authority", self._authority, 1)
        )
        post = self._field(b"apns-topic", topic, 0) + self._field(
            b"content-length", self._content_length, 28
        )
        if self._changed:
            self._templates.clear()
            return pre, post, False
        if len(self._templates) >= 64:
            self._templates.clear()
        self._templates[topic] = (pre, post)
        return pre, post, True

    def _size_updates(self) -> bytes:
        # RFC 7541 4.2: the smallest size since the last block, then the final one.
        if self._resize is None:
            return b""
        smallest, final = self._resize
        self._resize = None
        self._max_size = smallest
        self._evict()
        self._changed = True
        updates = _hpack_int(smallest, 5, 0x20)
        if final != smallest:
            self._max_size = final
            updates += _hpack_int(final, 5, 0x20)
        return updates

    def _field(self, name: bytes, value: bytes, static_name: int) -> bytes:
        entry = (name, value)
        with contextlib.suppress(ValueError):
            return _hpack_int(len(_STATIC_TABLE) + 1 + self._entries.index(entry), 7, 0x80)
        size = len(name) + len(value) + 32
        if size * 4 > self._max_size:  # would crowd out the other entries: not indexed
            first, bits = 0x00, 4
        else:
            first, bits = 0x40, 6  # literal with incremental indexing
            self._entries.appendleft(entry)
            self._size += size
            self._evict()
            self._changed = True
        head = (
            _hpack_int(static_name, bits, first)
            if static_name
            else bytes([first]) + _hpack_str(name)
        )
        return head + _hpack_str(value)

    def _evict(self) -> None:
        while self._size > self._max_size:
            name, value = self._entries.pop()
            self._size -= len(name) + len(value) + 32
            self._changed = True


# -- requests in flight ------------------------------------------------------------------


class _Batch:
    """One ``send_pushes`` call: its results, and a single future for all of them."""

    __slots__ = ("cancelled", "future", "remaining", "results", "topic")

    def __init__(
        self, topic: bytes, results: list[PushResult | None], future: asyncio.Future[None]
    ) -> None:
        self.topic = topic
        self.results = results
        self.future = future
        self.remaining = 0
        self.cancelled = False

    def resolve(self, index: int, result: PushResult) -> None:
        self.results[index] = result
        self.remaining -= 1
        if not self.remaining and not self.future.done():
            self.future.set_result(None)


class _Push:
    """One token of a batch, across its attempts; the per-stream state of the current one."""

    __slots__ = (
        "apns_id",
        "attempts",
        "batch",
        "body",
        "deadline",
        "field",
        "index",
        "received",
        "refused",
        "status",
        "token",
    )

    def __init__(self, batch: _Batch, index: int, token: str) -> None:
        self.batch = batch
        self.index = index
        self.token = token
        self.field = _PATH_HEADS[len(token)] + token.encode()
        self.attempts = 0  # counted attempts concluded
        self.refused = 0  # free re-sends used
        self.deadline = 0.0
        self.status = 0  # final HTTP status of the current attempt, 0 until it arrives
        self.apns_id: bytes | None = None
        self.body = b""
        self.received = 0  # DATA bytes not yet given back with a stream WINDOW_UPDATE

    def reset(self) -> None:
        self.status = 0
        self.apns_id = None
        self.body = b""
        self.received = 0


class _Body:
    """A request body that did not fit the send windows when its HEADERS went out."""

    __slots__ = ("offset", "window")

    def __init__(self, window: int) -> None:
        self.offset = 0
        self.window = window  # the stream's send window


# -- one HTTP/2 connection -------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """Client side of one multiplexed APNs connection: a small HTTP/2 implementation.

    It takes requests from its client's queue whenever a stream slot is free and hands
    every answer or failure back to the client; it never waits on anything itself."""

    def __init__(self, client: AsyncApnsClient, loop: asyncio.AbstractEventLoop) -> None:
        config = client.config
        self._client = client
        self._queue = client.queue
        self._loop = loop
        self._config = config
        self._payload = config.payload
        self._transport: asyncio.Transport | None = None
        self._out = bytearray()
        self._flush_pending = False
        self._inbuf = b""
        self._decoder = _HpackDecoder()
        self._streams: dict[int, _Push] = {}  # open streams (ours: always odd ids)
        self._bodies: dict[int, _Body] = {}  # streams with request body left, in order
        self._next_id = 1
        self._header_block: tuple[int, int, bytearray] | None = None  # CONTINUATION state
        self._freed = False  # a stream closed during this read
        # The server's settings (RFC 9113 defaults until its SETTINGS arrive).
        self._server_streams = _MAX_STREAM_ID
        self._limit = min(config.max_streams, self._server_streams)
        self._initial_window = _DEFAULT_WINDOW
        self._send_window = _DEFAULT_WINDOW
        self._max_frame = _FRAME_LIMIT
        self._server_table_size = _HPACK_TABLE_SIZE
        authority = config.host.encode()
        if config.port != 443:
            authority += b":%d" % config.port
        self._encoder = _RequestEncoder(authority, b"%d" % len(config.payload))
        self._receive_window = _RECEIVE_WINDOW  # left of what we granted the connection
        self._sweeper: asyncio.TimerHandle | None = None
        self._last_received = loop.time()
        self._handlers: dict[int, Callable[[int, int, bytes], None]] = {
            _DATA: self._on_data,
            _HEADERS: self._on_headers_frame,
            _PRIORITY: self._on_priority,
            _RST_STREAM: self._on_rst_stream,
            _SETTINGS: self._on_settings,
            _PUSH_PROMISE: self._on_push_promise,
            _PING: self._on_ping,
            _GOAWAY: self._on_goaway,
            _WINDOW_UPDATE: self._on_window_update,
            _CONTINUATION: self._on_continuation,
        }
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
        self._out += _CONNECTION_START
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
        self._fail_streams(list(self._streams), self.close_reason, unprocessed=False)
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._client.schedule_kick()  # waiting requests need another connection

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._last_received = self._loop.time()
        if self._inbuf:
            data = self._inbuf + data
        try:
            used = self._receive(data)
        except _ProtocolError as err:
            self._connection_error(err)
            return
        self._inbuf = data[used:]
        if self._freed:
            self._freed = False
            if self._queue and self.usable:
                self.pump()
            if self.draining and not self._streams:
                self._close_drained()
                return
        self._flush()

    # -- receiving -----------------------------------------------------------------------

    def _receive(self, data: bytes) -> int:
        """Handle every complete frame in ``data``; returns how many bytes were used."""
        pos, size = 0, len(data)
        unpack = _FRAME.unpack_from
        handlers = self._handlers
        while size - pos >= 9:
            head, flags, stream_id = unpack(data, pos)
            length = head >> 8
            if length > _FRAME_LIMIT:
                raise _ProtocolError(f"frame of {length} bytes", _FRAME_SIZE_ERROR)
            end = pos + 9 + length
            if end > size:
                break
            kind = head & 0xFF
            if self._header_block is not None and kind != _CONTINUATION:
                raise _ProtocolError("header block interrupted")
            handler = handlers.get(kind)
            if handler is not None:  # unknown frame types are ignored (RFC 9113 5.5)
                handler(flags, stream_id & _MAX_STREAM_ID, data[pos + 9 : end])
            pos = end
        return pos

    def _on_headers_frame(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise _ProtocolError("HEADERS on stream 0")
        if flags & (_PADDED | _PRIORITY_FLAG):
            payload = _unpad(payload, flags, 5 if flags & _PRIORITY_FLAG else 0)
        if flags & _END_HEADERS:
            self._on_headers(stream_id, payload, flags & _END_STREAM)
        else:
            self._header_block = (stream_id, flags & _END_STREAM, bytearray(payload))

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        block = self._header_block
        if block is None or block[0] != stream_id:
            raise _ProtocolError("unexpected CONTINUATION")
        block[2].extend(payload)
        if len(block[2]) > _HEADER_LIST_LIMIT:
            raise _ProtocolError("header block too large")
        if flags & _END_HEADERS:
            self._header_block = None
            self._on_headers(stream_id, bytes(block[2]), block[1])

    def _on_headers(self, stream_id: int, block: bytes, end_stream: int) -> None:
        try:
            headers = self._decoder.decode(block)
        except _HpackError as err:
            raise _ProtocolError(f"HPACK: {err}", _COMPRESSION_ERROR) from None
        push = self._streams.get(stream_id)
        if push is None:
            self._check_closed(stream_id)
            return
        if not push.status:
            status = b""
            for name, value in headers:
                if name == b":status":
                    status = value
                elif name == b"apns-id":
                    push.apns_id = value
            code = int(status) if len(status) == 3 and status.isdigit() else 0
            if code < 100:
                self._reset(stream_id, push, _PROTOCOL_ERROR, "malformed response headers")
                return
            if code < 200:  # informational: the final answer follows
                if end_stream:
                    self._reset(stream_id, push, _PROTOCOL_ERROR, "response without status")
                return
            push.status = code
        if end_stream:
            self._finish(stream_id, push)

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise _ProtocolError("DATA on stream 0")
        length = len(payload)
        # Flow control counts the whole frame, for any stream, even one we forgot.
        self._receive_window -= length
        if self._receive_window < 0:
            raise _ProtocolError("connection window exceeded", _FLOW_CONTROL_ERROR)
        if self._receive_window <= _RECEIVE_WINDOW // 2:
            self._window_update(0, _RECEIVE_WINDOW - self._receive_window)
            self._receive_window = _RECEIVE_WINDOW
        if flags & _PADDED:
            payload = _unpad(payload, flags, 0)
        push = self._streams.get(stream_id)
        if push is None:
            self._check_closed(stream_id)
            return
        if not push.status:
            self._reset(stream_id, push, _PROTOCOL_ERROR, "DATA before response headers")
            return
        if payload and len(push.body) < _MAX_BODY:
            push.body += payload[: _MAX_BODY - len(push.body)]
        if flags & _END_STREAM:
            self._finish(stream_id, push)
            return
        push.received += length
        if push.received >= _RECEIVE_WINDOW // 2:
            self._window_update(stream_id, push.received)
            push.received = 0

    def _on_rst_stream(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise _ProtocolError("RST_STREAM on stream 0")
        if len(payload) != 4:
            raise _ProtocolError("RST_STREAM size", _FRAME_SIZE_ERROR)
        code = int.from_bytes(payload, "big")
        push = self._streams.get(stream_id)
        if push is None:
            self._check_closed(stream_id)
            return
        self._forget(stream_id)
        self._client.failed(
            push, f"stream reset ({_error_name(code)})", unprocessed=code == _REFUSED_STREAM
        )

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise _ProtocolError("SETTINGS on a stream")
        if flags & _ACK:
            if payload:
                raise _ProtocolError("SETTINGS ack with a payload", _FRAME_SIZE_ERROR)
            return
        if len(payload) % 6:
            raise _ProtocolError("SETTINGS size", _FRAME_SIZE_ERROR)
        for offset in range(0, len(payload), 6):
            self._apply_setting(*_SETTING.unpack_from(payload, offset))
        self._limit = min(self._config.max_streams, self._server_streams)
        self._out += _SETTINGS_ACK
        if not self.ready.done():
            self.ready.set_result(None)
        self._freed = True  # the stream limit may have grown
        if self._bodies:
            self._send_bodies()

    def _apply_setting(self, code: int, value: int) -> None:
        if code == _HEADER_TABLE_SIZE and value != self._server_table_size:
            self._server_table_size = value
            self._encoder.set_limit(value)
        elif code == _ENABLE_PUSH and value > 1:
            raise _ProtocolError("ENABLE_PUSH not 0 or 1")
        elif code == _MAX_CONCURRENT_STREAMS:
            self._server_streams = value
        elif code == _INITIAL_WINDOW_SIZE:
            if value > _MAX_WINDOW:
                raise _ProtocolError("INITIAL_WINDOW_SIZE too large", _FLOW_CONTROL_ERROR)
            delta = value - self._initial_window
            self._initial_window = value
            for body in self._bodies.values():  # RFC 9113 6.9.2
                body.window += delta
                if body.window > _MAX_WINDOW:
                    raise _ProtocolError("stream window overflow", _FLOW_CONTROL_ERROR)
        elif code == _MAX_FRAME_SIZE:
            if not _FRAME_LIMIT <= value < 1 << 24:
                raise _ProtocolError("MAX_FRAME_SIZE out of range")
            self._max_frame = value

    def _on_ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise _ProtocolError("PING on a stream")
        if len(payload) != 8:
            raise _ProtocolError("PING size", _FRAME_SIZE_ERROR)
        if not flags & _ACK:
            self._out += _FRAME.pack(8 << 8 | _PING, _ACK, 0) + payload

    def _on_goaway(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise _ProtocolError("GOAWAY on a stream")
        if len(payload) < 8:
            raise _ProtocolError("GOAWAY size", _FRAME_SIZE_ERROR)
        last, code = _GOAWAY_HEAD.unpack_from(payload)
        last &= _MAX_STREAM_ID
        self.draining = True
        detail = payload[8:].decode("utf-8", "replace")[:200]
        self.close_reason = f"GOAWAY {_error_name(code)}" + (f" {detail}" if detail else "")
        log.info("apns: %s:%s sent %s", self._config.host, self._config.port, self.close_reason)
        unprocessed = [i for i in self._streams if i > last]
        self._fail_streams(unprocessed, self.close_reason, unprocessed=True)
        self._freed = True  # closes the connection once the processed streams are answered
        self._client.schedule_kick()  # queued requests need another connection

    def _on_window_update(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ProtocolError("WINDOW_UPDATE size", _FRAME_SIZE_ERROR)
        increment = int.from_bytes(payload, "big") & _MAX_WINDOW
        if not stream_id:
            if not increment:
                raise _ProtocolError("WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > _MAX_WINDOW:
                raise _ProtocolError("connection window overflow", _FLOW_CONTROL_ERROR)
        else:
            push = self._streams.get(stream_id)
            if push is None:
                self._check_closed(stream_id)
                return
            if not increment:
                self._reset(stream_id, push, _PROTOCOL_ERROR, "stream WINDOW_UPDATE of 0")
                return
            body = self._bodies.get(stream_id)
            if body is None:
                return  # our side of the stream is complete: its window no longer matters
            body.window += increment
            if body.window > _MAX_WINDOW:
                self._reset(stream_id, push, _FLOW_CONTROL_ERROR, "stream window overflow")
                return
        if self._bodies:
            self._send_bodies()

    def _on_push_promise(self, flags: int, stream_id: int, payload: bytes) -> None:
        raise _ProtocolError("PUSH_PROMISE with push disabled")

    def _on_priority(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise _ProtocolError("PRIORITY on stream 0")

    def _check_closed(self, stream_id: int) -> None:
        """A frame for a stream we do not track: fine if it is one of ours that closed
        (e.g. we reset it), a protocol error if it was never opened."""
        if not stream_id & 1 or stream_id >= self._next_id:
            raise _ProtocolError(f"frame on idle stream {stream_id}")

    # -- stream ends ---------------------------------------------------------------------

    def _forget(self, stream_id: int) -> None:
        del self._streams[stream_id]
        if self._bodies:
            self._bodies.pop(stream_id, None)
        self._freed = True

    def _finish(self, stream_id: int, push: _Push) -> None:
        del self._streams[stream_id]
        self._freed = True
        if self._bodies and self._bodies.pop(stream_id, None) is not None:
            # The server answered before the whole body went out: end our half too.
            self._rst_stream(stream_id, _NO_ERROR)
        self._client.answered(push)

    def _reset(self, stream_id: int, push: _Push, code: int, message: str) -> None:
        """A stream error: RST_STREAM, and the request fails (without a response)."""
        self._rst_stream(stream_id, code)
        self._forget(stream_id)
        self._client.failed(push, message, unprocessed=False)

    def _fail_streams(self, ids: list[int], message: str, *, unprocessed: bool) -> None:
        for stream_id in ids:
            push = self._streams.get(stream_id)
            if push is not None:
                self._forget(stream_id)
                self._client.failed(push, message, unprocessed=unprocessed)

    def _connection_error(self, err: _ProtocolError) -> None:
        self.close_reason = f"HTTP/2 protocol error: {err}"
        self.draining = True
        # No server-initiated stream was ever processed: last stream id 0.
        self._out += _FRAME.pack(8 << 8 | _GOAWAY, 0, 0) + _GOAWAY_HEAD.pack(0, err.code)
        self._flush()
        self.abort()

    # -- sending -----------------------------------------------------------------------

    def pump(self) -> None:
        """Open streams for queued requests while the stream limit allows."""
        queue = self._queue
        streams = self._streams
        free = self._limit - len(streams)
        if free <= 0 or not queue or not self.usable:
            return
        out = self._out
        pack = _FRAME.pack
        payload = self._payload
        size = len(payload)
        stream_id = self._next_id
        deadline = self._loop.time() + self._config.request_timeout
        template = self._encoder.template
        last: _Batch | None = None
        pre = post = b""
        while free > 0 and queue:
            push = queue.popleft()
            batch = push.batch
            if batch.cancelled:
                continue
            if stream_id > _MAX_STREAM_ID:
                queue.appendleft(push)
                self._ids_exhausted()
                break
            if batch is not last:
                pre, post, reusable = template(batch.topic)
                last = batch if reusable else None
            block = pre + push.field + post
            if (
                0 < size <= self._send_window
                and size <= self._initial_window
                and not self._bodies
                and len(block) <= _FRAME_LIMIT
            ):
                # The whole request in two frames, appended to this iteration's write.
                out += pack(len(block) << 8 | _HEADERS, _END_HEADERS, stream_id)
                out += block
                out += pack(size << 8 | _DATA, _END_STREAM, stream_id)
                out += payload
                self._send_window -= size
            else:
                self._open_stream(stream_id, block)
            push.deadline = deadline
            streams[stream_id] = push
            stream_id += 2
            free -= 1
        self._next_id = stream_id
        if self._bodies:
            self._send_bodies()
        if self._sweeper is None and streams:
            self._arm_sweeper()

    def _open_stream(self, stream_id: int, block: bytes) -> None:
        """The general case of sending a request: a header block longer than a frame,
        no body, or a body the windows do not admit yet."""
        end_stream = 0 if self._payload else _END_STREAM
        step = self._max_frame
        chunks = [block[i : i + step] for i in range(0, len(block), step)]
        for index, chunk in enumerate(chunks):
            kind, flags = (_CONTINUATION, 0) if index else (_HEADERS, end_stream)
            if index == len(chunks) - 1:
                flags |= _END_HEADERS
            self._out += _FRAME.pack(len(chunk) << 8 | kind, flags, stream_id) + chunk
        if self._payload:
            self._bodies[stream_id] = _Body(self._initial_window)

    def _ids_exhausted(self) -> None:
        # After ~1e9 requests on one connection: move on to a fresh one.
        self.draining = True
        self.close_reason = "stream ids exhausted"
        self._client.schedule_kick()
        if not self._streams:
            self._close_drained()

    def _send_bodies(self) -> None:
        """Send what the flow-control windows allow of waiting request bodies, in order."""
        payload = self._payload
        done = []
        for stream_id, body in self._bodies.items():
            while body.offset < len(payload):
                size = min(
                    len(payload) - body.offset, body.window, self._send_window, self._max_frame
                )
                if size <= 0:
                    break
                chunk = payload[body.offset : body.offset + size]
                body.offset += size
                body.window -= size
                self._send_window -= size
                end = _END_STREAM if body.offset == len(payload) else 0
                self._out += _FRAME.pack(size << 8 | _DATA, end, stream_id) + chunk
            if body.offset < len(payload):
                if self._send_window <= 0:
                    break
                continue
            done.append(stream_id)
        for stream_id in done:
            del self._bodies[stream_id]

    def _rst_stream(self, stream_id: int, code: int) -> None:
        self._out += _FRAME.pack(4 << 8 | _RST_STREAM, 0, stream_id) + code.to_bytes(4, "big")

    def _window_update(self, stream_id: int, increment: int) -> None:
        self._out += _FRAME.pack(4 << 8 | _WINDOW_UPDATE, 0, stream_id)
        self._out += increment.to_bytes(4, "big")

    def schedule_flush(self) -> None:
        # Coalesce everything queued in this loop iteration into one write: one syscall
        # and few TLS records for hundreds of streams.
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._out:
            data, self._out = self._out, bytearray()
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(data)

    # -- timeouts --------------------------------------------------------------------

    def _sweep(self) -> None:
        """Time out overdue streams; abort a connection that went silent."""
        self._sweeper = None
        if self.closed:
            return
        now = self._loop.time()
        overdue = [i for i, push in self._streams.items() if push.deadline <= now]
        for stream_id in overdue:
            self._rst_stream(stream_id, _CANCEL)
        self._fail_streams(overdue, "timed out waiting for APNs", unprocessed=False)
        if overdue and now - self._last_received >= self._config.request_timeout:
            self.close_reason = "connection silent past the request timeout"
            self._flush()
            self.abort()
            return
        if overdue and self._queue and self.usable:
            self.pump()
        self._flush()
        self._arm_sweeper()

    def _arm_sweeper(self) -> None:
        if self._sweeper is None and self._streams and not self.closed:
            delay = min(1.0, self._config.request_timeout / 4)
            self._sweeper = self._loop.call_later(delay, self._sweep)

    # -- public ------------------------------------------------------------------------

    def close(self) -> None:
        """Polite close: GOAWAY, then TLS close."""
        if self._transport is None or self.closed:
            return
        self.draining = True
        self._out += _FRAME.pack(8 << 8 | _GOAWAY, 0, 0) + _GOAWAY_HEAD.pack(0, _NO_ERROR)
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _close_drained(self) -> None:
        """After GOAWAY (either way) and the last answer: nothing more to wait for."""
        self._flush()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


def _unpad(payload: bytes, flags: int, priority: int) -> bytes:
    """Strip the padding (and a HEADERS frame's priority fields) off a frame payload."""
    start, end = priority, len(payload)
    if flags & _PADDED:
        if not payload:
            raise _ProtocolError("padded frame without pad length", _FRAME_SIZE_ERROR)
        start += 1
        end -= payload[0]
    if end < start:
        raise _ProtocolError("padding exceeds the frame")
    return payload[start:end]


# -- async engine ----------------------------------------------------------------------


class AsyncApnsClient:
    """Pushes over one lazily (re)opened connection. Use from a single event loop."""

    def __init__(self, config: ApnsConfig, ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._ssl = ssl_context or build_ssl_context(config)
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._connect_failure: tuple[float, str] | None = None  # (until, message)
        self._rng = random.Random()  # noqa: S311 - jitter, not crypto
        self._kick_pending = False
        self.queue: deque[_Push] = deque()  # requests waiting for a connection or a stream
        self.connections_opened = 0

    async def send_pushes(self, topic: str, tokens: Sequence[str]) -> list[PushResult]:
        """Push ``config.payload`` to every token; one result per token, in order."""
        unique = list(dict.fromkeys(tokens))  # a duplicate would only push twice
        results: list[PushResult | None] = [None] * len(unique)
        batch = _Batch(topic.encode(), results, asyncio.get_running_loop().create_future())
        pushes = []
        for index, token in enumerate(unique):
            if _TOKEN_RE.fullmatch(token) is None:
                # Registrations come from devices; never put arbitrary text into a path.
                results[index] = PushResult(token, None, "BadDeviceToken", Outcome.UNREGISTER, 0)
            else:
                pushes.append(_Push(batch, index, token))
        if pushes:
            batch.remaining = len(pushes)
            if self.queue:
                # Another batch is still being sent (another thread): take turns with it,
                # so a small batch is not stuck behind a big one.
                waiting = list(self.queue)
                self.queue.clear()
                pairs = itertools.zip_longest(waiting, pushes)
                self.queue.extend(p for p in itertools.chain.from_iterable(pairs) if p)
            else:
                self.queue.extend(pushes)
            self._kick()
            try:
                await batch.future
            except BaseException:
                batch.cancelled = True  # e.g. a Celery time limit: send nothing more
                kept = [push for push in self.queue if push.batch is not batch]
                self.queue.clear()
                self.queue.extend(kept)
                raise
        done = cast(list[PushResult], results)
        if len(unique) == len(tokens):
            return done
        by_token = dict(zip(unique, done, strict=True))
        return [by_token[token] for token in tokens]

    async def send(self, topic: str, token: str) -> PushResult:
        [result] = await self.send_pushes(topic, [token])
        return result

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

    # -- request life cycle (called by the connection) -------------------------------------

    def answered(self, push: _Push) -> None:
        push.attempts += 1
        status = push.status
        if status == 200 and not push.body:
            apns_id = push.apns_id.decode() if push.apns_id else None
            result = PushResult(push.token, 200, None, Outcome.DELIVERED, push.attempts, apns_id)
        else:
            reason: str | None = None
            timestamp: int | None = None
            if push.body:
                try:
                    document = json.loads(push.body)
                    reason = document.get("reason")
                    timestamp = document.get("timestamp")
                except (ValueError, AttributeError):
                    reason = push.body[:200].decode("utf-8", "replace")
            apns_id = push.apns_id.decode() if push.apns_id else None
            outcome = classify(status, reason)
            if outcome is Outcome.RETRY:
                self._retry(push, status, reason, apns_id)
                return
            result = PushResult(
                push.token, status, reason, outcome, push.attempts, apns_id, timestamp
            )
        if not push.batch.cancelled:
            push.batch.resolve(push.index, result)

    def failed(self, push: _Push, message: str, *, unprocessed: bool) -> None:
        """No response. Requests the server did not process are re-sent at once."""
        if unprocessed and push.refused < _MAX_REFUSED:
            push.refused += 1
            push.reset()
            if not push.batch.cancelled:
                self.queue.append(push)
                self.schedule_kick()
            return
        push.attempts += 1
        self._retry(push, None, message[:200], None)

    def _retry(
        self, push: _Push, status: int | None, reason: str | None, apns_id: str | None
    ) -> None:
        batch = push.batch
        if batch.cancelled:
            return
        if push.attempts >= self.config.max_attempts:
            batch.resolve(
                push.index,
                PushResult(push.token, status, reason, Outcome.FAILED, push.attempts, apns_id),
            )
            return
        push.reset()
        asyncio.get_running_loop().call_later(self._backoff(push.attempts), self._resubmit, push)

    def _resubmit(self, push: _Push) -> None:
        if not push.batch.cancelled:
            self.queue.append(push)
            self.schedule_kick()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    def schedule_kick(self) -> None:
        if not self._kick_pending:
            self._kick_pending = True
            asyncio.get_running_loop().call_soon(self._kick)

    def _kick(self) -> None:
        """Get queued requests moving: onto the connection, or start connecting."""
        self._kick_pending = False
        if not self.queue:
            return
        connection = self._conn
        if connection is not None and connection.usable:
            connection.pump()
            connection.schedule_flush()
            return
        if self._connecting is not None:
            return
        failure = self._connect_failure
        loop = asyncio.get_running_loop()
        if failure is not None and loop.time() < failure[0]:
            # Hundreds of waiting pushes must not each redial a failing host.
            self._fail_queue(failure[1])
            return
        self._connecting = loop.create_task(self._connect())

    def _fail_queue(self, message: str) -> None:
        waiting = list(self.queue)
        self.queue.clear()
        for push in waiting:
            if not push.batch.cancelled:
                self.failed(push, message, unprocessed=False)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        connection = _Connection(self, loop)
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
            self._connecting = None
            if not isinstance(err, Exception):
                self._fail_queue("connection attempt cancelled")
                raise  # cancelled: nothing more to report
            message = f"connect to {config.host}:{config.port} failed: {_describe(err)}"
            self._connect_failure = (loop.time() + config.backoff_base, message[:200])
            self._fail_queue(message)
            return
        self._connecting = None
        self._connect_failure = None
        self._conn = connection
        self.connections_opened += 1
        log.info("apns: connected to %s:%s", config.host, config.port)
        self._kick()


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, ApnsConnectionError):
        return text[:200]
    return f"{type(err).__name__}: {text}"[:200]


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
