"""HTTP/2 and HPACK on the wire: the engine against the h2 library as an in-memory server.

The engine's ``dial`` hook hands its connection to :class:`_Peer` instead of a TLS socket,
so every byte either way is under the test's control and h2 checks what the client sends.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    PingAckReceived,
    RequestReceived,
    StreamEnded,
)
from h2.settings import SettingCodes, Settings

from shared.clients.apns import ApnsConfig, AsyncApnsClient, Outcome
from tests.unit.apns.helpers import token

pytestmark = pytest.mark.timeout(60)

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _Alpn:
    def selected_alpn_protocol(self) -> str:
        return "h2"


class _Transport(asyncio.Transport):
    """Hands what the client writes to the peer; closing reports connection_lost."""

    def __init__(self, peer: _Peer) -> None:
        super().__init__()
        self._peer = peer
        self._closing = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return _Alpn() if name == "ssl_object" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._peer.receive(bytes(data))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            asyncio.get_running_loop().call_soon(self._peer.protocol().connection_lost, None)

    def abort(self) -> None:
        self.close()


Respond = Callable[["_Peer", int, dict[bytes, bytes], bytes], None]


def _answer_200(peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
    peer.h2.send_headers(stream_id, [(b":status", b"200"), (b"apns-id", b"ID-%d" % stream_id)])
    peer.h2.send_data(stream_id, b"", end_stream=True)


def _answer_soon(peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
    """Answer after the rest of the client's write: its streams are open together."""

    def answer() -> None:
        _answer_200(peer, stream_id, headers, body)
        peer.flush()

    peer.loop.call_soon(answer)


def _frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return struct.pack(">IBI", len(payload) << 8 | kind, flags, stream_id) + payload


def _frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream id, payload) of each frame in ``data`` (after the preface)."""
    frames, pos = [], len(_PREFACE) if data.startswith(_PREFACE) else 0
    while pos < len(data):
        head, flags, stream_id = struct.unpack_from(">IBI", data, pos)
        end = pos + 9 + (head >> 8)
        frames.append((head & 0xFF, flags, stream_id, data[pos + 9 : end]))
        pos = end
    return frames


def _header_blocks(data: bytes) -> list[bytes]:
    return [payload for kind, _, _, payload in _frames(data) if kind == 0x1]


class _Peer:
    """An HTTP/2 server (``h2``, strict about what it receives) wired straight to one
    client connection: no TLS, no sockets, every byte under the test's control."""

    def __init__(
        self,
        *,
        settings: dict[int, int] | None = None,
        respond: Respond = _answer_200,
        chunk: int = 0,
        ack: bool = True,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.connection: asyncio.Protocol | None = None  # the client's, once it dials
        self.h2 = H2Connection(
            H2Configuration(client_side=False, header_encoding=None, validate_inbound_headers=True)
        )
        self.h2.local_settings = Settings(client=False, initial_values=settings or {})
        self.h2.initiate_connection()
        self.respond = respond
        self.chunk = chunk  # deliver to the client in pieces of this size (0: whole)
        self.ack = ack  # give received DATA back to the flow-control windows
        self.requests: list[tuple[int, dict[bytes, bytes], bytes]] = []
        self.bodies: dict[int, bytearray] = {}
        self.headers: dict[int, dict[bytes, bytes]] = {}
        self.events: list[object] = []
        self.raw: list[bytes] = []  # everything the client wrote
        self.max_open_streams = 0
        self.transport = _Transport(self)

    def attach(self, protocol: asyncio.Protocol) -> None:
        self.connection = protocol
        protocol.connection_made(self.transport)

    def protocol(self) -> asyncio.Protocol:
        assert self.connection is not None
        return self.connection

    def receive(self, data: bytes) -> None:
        self.raw.append(data)
        for event in self.h2.receive_data(data):
            self.events.append(event)
            if isinstance(event, RequestReceived):
                self.headers[event.stream_id] = dict(event.headers)
                self.bodies[event.stream_id] = bytearray()
                opened = self.h2.open_inbound_streams
                self.max_open_streams = max(self.max_open_streams, opened)
            elif isinstance(event, DataReceived):
                self.bodies[event.stream_id] += event.data
                if self.ack:
                    length = event.flow_controlled_length
                    self.h2.acknowledge_received_data(length, event.stream_id)
            elif isinstance(event, StreamEnded):
                body = bytes(self.bodies[event.stream_id])
                self.requests.append((event.stream_id, self.headers[event.stream_id], body))
                self.respond(self, event.stream_id, self.headers[event.stream_id], body)
        self.flush()

    def flush(self) -> None:
        self.send_raw(self.h2.data_to_send())

    def send_raw(self, data: bytes) -> None:
        if not data:
            return
        step = self.chunk or len(data)
        for start in range(0, len(data), step):
            self.loop.call_soon(self.protocol().data_received, data[start : start + step])


def _peers(**options: Any) -> tuple[AsyncApnsClient, list[_Peer]]:
    """A client whose first connection goes to a peer made with ``options``, and each
    later one to a fresh, well-behaved peer (all listed in order)."""
    peers = [_Peer(**options.pop("peer", {}))]

    async def dial(factory: Callable[[], asyncio.Protocol]) -> None:
        if peers[-1].connection is not None:
            peers.append(_Peer())
        peers[-1].attach(factory())

    config = ApnsConfig(host="apns.test", backoff_base=0.001, backoff_max=0.002)
    config = replace(config, **options)
    return AsyncApnsClient(config, ssl.create_default_context(), dial=dial), peers


def _peer(**options: Any) -> tuple[AsyncApnsClient, _Peer]:
    """``client=`` options for the config, the rest for the peer; connects on first push."""
    client_options = options.pop("client", {})
    client, peers = _peers(peer=options, **client_options)
    return client, peers[0]


def test_request_headers_and_body_on_the_wire() -> None:
    async def main() -> None:
        client, peer = _peer()
        [result] = await client.send_pushes("pass.example", [token(7)])
        assert (result.outcome, result.apns_id, result.attempts) == ("delivered", "ID-1", 1)
        [(stream_id, headers, body)] = peer.requests
        assert stream_id == 1
        assert list(headers.items()) == [
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", b"apns.test"),
            (b":path", b"/3/device/" + token(7).encode()),
            (b"apns-topic", b"pass.example"),
            (b"content-length", b"2"),
        ]
        assert body == b"{}"

    asyncio.run(main())


def test_constant_request_headers_are_indexed_in_the_servers_table() -> None:
    long_topic = "pass." + "x" * 1100  # too big to be worth a table entry
    # With the table at 250 bytes, the later topics evict earlier entries.
    topics = ["pass.a", "pass.b", "pass.a", long_topic, "pass.c", "pass.b", "pass.d"]
    topics += ["pass.e", "pass.a", "pass.c"]

    async def main() -> None:
        client, peer = _peer()
        for number, topic in enumerate(topics):
            if number in (2, 4):  # shrink the table to nothing, then grow it again
                peer.h2.update_settings({SettingCodes.HEADER_TABLE_SIZE: 0 if number == 2 else 250})
                peer.flush()
                await asyncio.sleep(0.01)
            sent_before = len(peer.raw)
            pushed = [token(100 * number + i) for i in range(4)]
            results = await client.send_pushes(topic, pushed)
            assert {r.outcome for r in results} == {Outcome.DELIVERED}
            # h2 decoded each block with its own table (a wrong index fails the connection).
            received = [h for _, h, _ in peer.requests[-4:]]
            assert [h[b"apns-topic"] for h in received] == [topic.encode()] * 4
            assert [h[b":path"][10:] for h in received] == [t.encode() for t in pushed]
            assert {h[b":authority"] for h in received} == {b"apns.test"}
            sizes = [len(block) for block in _header_blocks(b"".join(peer.raw[sent_before:]))]
            if topic is long_topic:
                assert min(sizes) > 1100
            elif number != 2:
                # Once the entries are in: :method, :scheme, indexed :authority, the path
                # literal (2 + 74 bytes), indexed apns-topic and content-length.
                assert sizes[-1] == 2 + 1 + 76 + 1 + 1, (number, sizes)

    asyncio.run(main())


def test_frames_split_at_every_byte_boundary_are_reassembled() -> None:
    async def main() -> None:
        client, _ = _peer(chunk=1)
        results = await client.send_pushes("t", [token(i) for i in range(30)])
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert [r.apns_id for r in results] == [f"ID-{2 * i + 1}" for i in range(30)]

    asyncio.run(main())


def test_body_waits_for_stream_window_updates() -> None:
    # A server granting streams no window at all: the body may only follow WINDOW_UPDATEs.
    async def main() -> None:
        client, peer = _peer(settings={SettingCodes.INITIAL_WINDOW_SIZE: 0}, ack=False)
        pushes = asyncio.ensure_future(client.send_pushes("t", [token(1), token(2)]))
        await asyncio.sleep(0.01)
        assert peer.requests == []  # headers arrived, bodies held back
        assert set(peer.headers) == {1, 3}
        peer.h2.increment_flow_control_window(1, stream_id=1)
        peer.flush()
        await asyncio.sleep(0.01)
        assert bytes(peer.bodies[1]) == b"{"
        for stream_id in (1, 3):
            peer.h2.increment_flow_control_window(5, stream_id=stream_id)
        peer.flush()
        results = await asyncio.wait_for(pushes, 1)
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert [body for _, _, body in peer.requests] == [b"{}", b"{}"]

    asyncio.run(main())


def test_large_bodies_are_split_into_frames_within_the_connection_window() -> None:
    payload = bytes(range(256)) * 400  # 102,400 bytes: more than the 65,535 initial window

    def answer_when_complete(
        peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes
    ) -> None:
        assert body == payload
        _answer_200(peer, stream_id, headers, body)

    async def main() -> None:
        client, peer = _peer(client={"payload": payload}, respond=answer_when_complete)
        # Connection-level credit comes only from the acknowledgements h2 sends back.
        results = await asyncio.wait_for(client.send_pushes("t", [token(1), token(2)]), 5)
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert len(peer.requests) == 2

    asyncio.run(main())


def test_settings_changes_are_honoured() -> None:
    async def main() -> None:
        client, peer = _peer(
            settings={SettingCodes.MAX_CONCURRENT_STREAMS: 2}, respond=_answer_soon
        )
        results = await client.send_pushes("t", [token(i) for i in range(10)])
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert peer.max_open_streams == 2  # and h2 fails the connection on a third
        peer.h2.update_settings(
            {SettingCodes.MAX_CONCURRENT_STREAMS: 5, SettingCodes.HEADER_TABLE_SIZE: 256}
        )
        peer.flush()
        await asyncio.sleep(0.01)
        peer.max_open_streams = 0
        sent_before = len(peer.raw)
        results = await client.send_pushes("t", [token(i) for i in range(10, 30)])
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert peer.max_open_streams == 5
        # The first header block after the table size change starts with a size update
        # (RFC 7541 4.2), the following ones do not.
        blocks = _header_blocks(b"".join(peer.raw[sent_before:]))
        assert [block[0] & 0xE0 == 0x20 for block in blocks] == [True] + [False] * 19

    asyncio.run(main())


def test_ping_is_answered() -> None:
    async def main() -> None:
        client, peer = _peer()
        await client.send_pushes("t", [token(1)])  # connected
        peer.h2.ping(b"12345678")
        peer.flush()
        await asyncio.sleep(0.01)
        acks = [e for e in peer.events if isinstance(e, PingAckReceived)]
        assert [a.ping_data for a in acks] == [b"12345678"]

    asyncio.run(main())


def test_refused_stream_is_resent_for_free() -> None:
    def refuse_first(peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
        if stream_id == 1:
            peer.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
        else:
            _answer_200(peer, stream_id, headers, body)

    async def main() -> None:
        client, peer = _peer(client={"max_attempts": 1}, respond=refuse_first)
        [result] = await client.send_pushes("t", [token(1)])
        assert (result.outcome, result.attempts, result.apns_id) == ("delivered", 1, "ID-3")
        assert [stream_id for stream_id, _, _ in peer.requests] == [1, 3]

    asyncio.run(main())


def test_other_stream_resets_count_as_attempts() -> None:
    def reset_first(peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
        if stream_id == 1:
            peer.h2.reset_stream(stream_id, ErrorCodes.INTERNAL_ERROR)
        else:
            _answer_200(peer, stream_id, headers, body)

    async def main() -> None:
        client, _ = _peer(client={"max_attempts": 1}, respond=reset_first)
        [failed] = await client.send_pushes("t", [token(1)])
        assert (failed.outcome, failed.status, failed.attempts) == ("failed", None, 1)
        assert failed.reason == "stream reset (INTERNAL_ERROR)"
        [retried] = await client.send_pushes("t", [token(2)])
        assert (retried.outcome, retried.attempts) == ("delivered", 1)

    asyncio.run(main())


def test_informational_response_padding_trailers_and_continuation() -> None:
    big = b"x" * 20_000  # forces h2 to split the header block into CONTINUATION frames

    def answer(peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
        peer.h2.send_headers(stream_id, [(b":status", b"100")])
        peer.h2.send_headers(
            stream_id, [(b":status", b"400"), (b"apns-id", b"A-%d" % stream_id), (b"x-big", big)]
        )
        peer.h2.send_data(stream_id, b'{"reason":', pad_length=17)
        peer.h2.send_data(stream_id, b'"BadTopic"}')
        peer.h2.send_headers(stream_id, [(b"x-trailer", b"1")], end_stream=True)

    async def main() -> None:
        client, _ = _peer(respond=answer)
        [result] = await client.send_pushes("t", [token(1)])
        assert (result.status, result.reason, result.apns_id) == (400, "BadTopic", "A-1")
        assert result.outcome is Outcome.FAILED

    asyncio.run(main())


def test_padded_headers_with_priority_fields() -> None:
    def answer_raw(peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
        # PADDED | PRIORITY | END_HEADERS | END_STREAM: pad length, 5 priority bytes,
        # ":status: 200" (static index 8), then 3 bytes of padding.
        flags = 0x8 | 0x20 | 0x4 | 0x1
        peer.send_raw(
            _frame(0x1, flags, stream_id, b"\x03" + b"\0\0\0\0\x10" + b"\x88" + b"\0" * 3)
        )

    async def main() -> None:
        client, _ = _peer(respond=answer_raw)
        [result] = await client.send_pushes("t", [token(1)])
        assert (result.outcome, result.status, result.apns_id) == ("delivered", 200, None)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (_frame(0x0, 0, 0, b"x"), ErrorCodes.PROTOCOL_ERROR),  # DATA on stream 0
        (_frame(0x1, 0x4, 9, b"\x88"), ErrorCodes.PROTOCOL_ERROR),  # never opened
        (_frame(0x5, 0x4, 1, b"\0\0\0\x02\x88"), ErrorCodes.PROTOCOL_ERROR),  # push
        (_frame(0x8, 0, 0, b"\0\0\0\0"), ErrorCodes.PROTOCOL_ERROR),  # zero increment
        (_frame(0x6, 0, 0, b"1234"), ErrorCodes.FRAME_SIZE_ERROR),  # short PING
        (struct.pack(">IBI", 16_385 << 8, 0, 1), ErrorCodes.FRAME_SIZE_ERROR),
        (_frame(0x1, 0x4, 1, b"\xff\xff"), ErrorCodes.COMPRESSION_ERROR),  # bad index
    ],
    ids=["data-0", "idle", "push", "window-0", "ping-size", "too-big", "hpack"],
)
def test_protocol_errors_end_the_connection_with_goaway(frame: bytes, code: ErrorCodes) -> None:
    def misbehave(peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
        peer.send_raw(frame)

    async def main() -> None:
        client, peer = _peer(client={"max_attempts": 1}, respond=misbehave)
        [result] = await client.send_pushes("t", [token(1)])
        assert (result.outcome, result.status) == ("failed", None)
        assert (result.reason or "").startswith("HTTP/2 protocol error")
        [goaway] = [e for e in peer.events if isinstance(e, ConnectionTerminated)]
        assert goaway.error_code == code
        assert peer.transport.is_closing()

    asyncio.run(main())


def test_goaway_resends_only_unprocessed_streams() -> None:
    answered: list[int] = []

    def goaway_after_first(
        peer: _Peer, stream_id: int, headers: dict[bytes, bytes], body: bytes
    ) -> None:
        if not answered:
            answered.append(stream_id)
            _answer_200(peer, stream_id, headers, body)
        elif len(answered) == 1:
            answered.append(stream_id)
            peer.h2.close_connection(last_stream_id=answered[0])

    async def main() -> None:
        client, peers = _peers(peer={"respond": goaway_after_first}, max_attempts=1)
        results = await client.send_pushes("t", [token(i) for i in range(3)])
        assert [(r.outcome, r.attempts) for r in results] == [("delivered", 1)] * 3
        assert [r.apns_id for r in results] == ["ID-1", "ID-1", "ID-3"]  # 2nd connection
        first, second = peers
        assert [stream_id for stream_id, _, _ in first.requests] == [1, 3, 5]
        assert [h[b":path"][-2:] for _, h, _ in second.requests] == [b"01", b"02"]
        await asyncio.sleep(0)
        assert first.transport.is_closing()  # nothing left in flight: closed after the GOAWAY

    asyncio.run(main())
