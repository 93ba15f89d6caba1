"""One fake APNs connection: HTTP/2 (``h2``) over an asyncio TLS transport.

Answers the way APNs does: ``200`` with ``apns-id`` and the stream ended on HEADERS, or a
JSON ``{"reason": ...}`` body. Validation order follows what a provider can observe:
method, path, token, topic, payload, then injected faults and unregistered tokens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from cryptography import x509
from cryptography.x509.oid import NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes, Settings

from dev.fake_apns.state import FAULT_REASONS, FakeApnsState, PushRecord

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"[0-9a-fA-F]{64}")
PATH_PREFIX = b"/3/device/"
MAX_PAYLOAD = 4096  # bytes; Apple's limit for regular (non-VoIP) pushes
_GOAWAY_GRACE = 2.0  # seconds a client gets to close after our GOAWAY
_WINDOW = 1 << 24  # generous receive window so clients are never throttled by us


@dataclass
class ServerOptions:
    max_concurrent_streams: int = 1000  # what APNs advertises to certificate clients
    trailing_empty_data: bool = False  # mimic servers that end a 200 with an empty DATA
    # Seconds before answering, to keep many streams in flight; the push is recorded when
    # the request completes, answered or not.
    response_delay: float = 0.0


@dataclass(frozen=True)
class _Answer:
    status: int
    apns_id: str
    reason: str | None = None
    timestamp: int | None = None  # for 410: when the token stopped being valid (ms)


@dataclass
class _Request:
    headers: dict[bytes, bytes]
    body: bytearray = field(default_factory=bytearray)


class _H2(H2Connection):
    """h2 counts open streams by scanning all of them for every new stream (O(n) per
    request); answered streams are pruned right away instead, making the count O(1)."""

    @property
    def open_inbound_streams(self) -> int:
        return len(self.streams)

    def prune(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by


def certificate_topic(der: bytes | None) -> str | None:
    """The passTypeIdentifier (subject UID) of a DER client certificate."""
    if not der:
        return None
    attrs = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.USER_ID)
    return str(attrs[0].value) if attrs else None


class ApnsServerProtocol(asyncio.Protocol):
    def __init__(
        self,
        state: FakeApnsState,
        options: ServerOptions,
        on_close: Callable[[ApnsServerProtocol], None],
    ) -> None:
        self._state = state
        self._options = options
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: dict[int, _Request] = {}  # request body still arriving
        self._delayed = 0  # decided, answer scheduled (response_delay)
        self._answered = 0
        self._last_answered = 0
        self._closing = False
        self._lost = False
        self.connection_id = 0
        self.cert_topic: str | None = None
        settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: options.max_concurrent_streams,
                SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
            },
        )
        self._h2 = _H2(
            H2Configuration(client_side=False, header_encoding=None, validate_inbound_headers=True)
        )
        self._h2.local_settings = settings

    # -- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()
        ssl_object = cast(ssl.SSLObject | None, transport.get_extra_info("ssl_object"))
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            # APNs only speaks HTTP/2; no ALPN h2 means the client is not an APNs client.
            self._transport.abort()
            return
        self.cert_topic = certificate_topic(ssl_object.getpeercert(binary_form=True))
        self.connection_id = self._state.connection_opened()
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(_WINDOW)
        self._flush()

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._lost

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self.connection_id:
            self._state.connection_closed()
        self._on_close(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # after our GOAWAY: the client will re-send elsewhere
        try:
            events = self._h2.receive_data(data)
        except H2Error as err:
            log.debug("fake apns: protocol error from client: %s", err)
            self._flush()
            self.abort()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self._streams[event.stream_id] = _Request(dict(event.headers))
                self._state.note_in_flight(len(self._streams) + self._delayed)
            elif isinstance(event, DataReceived):
                self._on_data(event)
            elif isinstance(event, StreamEnded):
                self._on_request(event.stream_id)
            elif isinstance(event, StreamReset):
                self._streams.pop(event.stream_id, None)
                self._h2.prune(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self._flush()
                self.abort()
                return
        self._flush()

    # -- control -----------------------------------------------------------------------

    def abort(self) -> None:
        """Drop the connection without GOAWAY, like a network failure."""
        if self._transport is not None:
            self._transport.abort()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    # -- requests ----------------------------------------------------------------------

    def _on_data(self, event: DataReceived) -> None:
        request = self._streams.get(event.stream_id) if event.stream_id else None
        if request is not None and event.data and len(request.body) <= MAX_PAYLOAD:
            request.body += event.data
        if event.flow_controlled_length:
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)

    def _on_request(self, stream_id: int) -> None:
        request = self._streams.pop(stream_id, None)
        if request is None or self._closing:
            return
        self._state.count_request()
        answer = self._decide(request)
        delay = self._options.response_delay
        if delay > 0 and self._loop is not None:
            self._delayed += 1
            self._loop.call_later(delay, self._answer_later, stream_id, answer)
        else:
            self._answer(stream_id, answer)

    def _answer_later(self, stream_id: int, answer: _Answer) -> None:
        self._delayed -= 1
        if not self._closing and self._transport is not None and not self._transport.is_closing():
            self._answer(stream_id, answer)
            self._flush()

    def _answer(self, stream_id: int, answer: _Answer) -> None:
        self._respond(stream_id, answer)
        self._h2.prune(stream_id)
        self._answered += 1
        self._last_answered = max(self._last_answered, stream_id)
        limit = self._state.goaway_after
        if limit is not None and self._answered >= limit:
            self._goaway()

    def _goaway(self) -> None:
        # Graceful shutdown as APNs does it: announce the last processed stream, then let
        # the client close. Closing at once could make the kernel answer the client's
        # in-flight frames with RST, which can destroy the unread GOAWAY on its side.
        self._closing = True
        self._h2.close_connection(last_stream_id=self._last_answered)
        self._flush()
        if self._loop is not None and self._transport is not None:
            self._loop.call_later(_GOAWAY_GRACE, self._transport.close)

    def _decide(self, request: _Request) -> _Answer:
        headers = request.headers
        apns_id = headers.get(b"apns-id", b"").decode() or str(uuid.uuid4()).upper()
        path = headers.get(b":path", b"")
        if headers.get(b":method") != b"POST":
            return _Answer(405, apns_id, "MethodNotAllowed")
        if not path.startswith(PATH_PREFIX):
            return _Answer(404, apns_id, "BadPath")
        token = path[len(PATH_PREFIX) :].decode("ascii", "replace")
        if not token:
            return _Answer(400, apns_id, "MissingDeviceToken")
        if not TOKEN_RE.fullmatch(token):
            return _Answer(400, apns_id, "BadDeviceToken")
        token = token.lower()
        topic = headers.get(b"apns-topic", b"").decode("utf-8", "replace")
        if not topic:
            # APNs accepts a missing topic for single-topic certificates; being stricter
            # catches a client that forgets it, which Wallet documentation requires.
            return _Answer(400, apns_id, "MissingTopic")
        if topic != self.cert_topic:
            return _Answer(400, apns_id, "TopicDisallowed")
        if not request.body:
            return _Answer(400, apns_id, "PayloadEmpty")
        if len(request.body) > MAX_PAYLOAD:
            return _Answer(413, apns_id, "PayloadTooLarge")
        fault = self._state.fault_for(token)
        if fault is not None:
            return _Answer(fault, apns_id, FAULT_REASONS.get(fault, "InternalServerError"))
        since = self._state.unregistered_since(token)
        if since is not None:
            return _Answer(410, apns_id, "Unregistered", since)
        self._state.record(PushRecord(token, topic, time.time(), self.connection_id, apns_id))
        return _Answer(200, apns_id)

    def _respond(self, stream_id: int, answer: _Answer) -> None:
        headers = [(b":status", str(answer.status).encode()), (b"apns-id", answer.apns_id.encode())]
        try:
            if answer.reason is None:
                trailing = self._options.trailing_empty_data
                self._h2.send_headers(stream_id, headers, end_stream=not trailing)
                if trailing:
                    self._h2.send_data(stream_id, b"", end_stream=True)
                return
            document: dict[str, object] = {"reason": answer.reason}
            if answer.timestamp is not None:
                document["timestamp"] = answer.timestamp
            body = json.dumps(document, separators=(",", ":")).encode()
            headers.append((b"content-type", b"application/json; charset=utf-8"))
            headers.append((b"content-length", str(len(body)).encode()))
            self._h2.send_headers(stream_id, headers)
            self._h2.send_data(stream_id, body, end_stream=True)
        except H2Error as err:  # e.g. the client reset the stream meanwhile
            log.debug("fake apns: could not answer stream %d: %s", stream_id, err)
