"""The APNs client against the in-process fake APNs server (real TLS + HTTP/2)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
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
from hpack import Decoder, Encoder
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH

from dev.fake_apns import FakeApnsServer, ServerOptions
from dev.fake_apns.certs import TestPki, generate_test_pki
from shared.clients.apns import (
    ApnsClient,
    ApnsConfig,
    AsyncApnsClient,
    Outcome,
    _Connection,
    _HpackDecoder,
    _HpackError,
    _huffman_decode,
    _RequestEncoder,
    classify,
    shared_client,
)

pytestmark = pytest.mark.timeout(60)


def token(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return generate_test_pki(tmp_path_factory.mktemp("apns-pki"))


def start_server(pki: TestPki, **options: object) -> FakeApnsServer:
    return FakeApnsServer(
        pki.server_cert,
        pki.server_key,
        pki.client_ca,
        options=ServerOptions(**options),  # type: ignore[arg-type]
        seed=1,
    ).start()


@pytest.fixture
def server(pki: TestPki) -> Iterator[FakeApnsServer]:
    fake = start_server(pki)
    yield fake
    fake.stop()


def config_for(pki: TestPki, fake: FakeApnsServer, **overrides: object) -> ApnsConfig:
    config = ApnsConfig(
        host="127.0.0.1",
        port=fake.port,
        cert_file=pki.client_cert,
        key_file=pki.client_key,
        ca_file=pki.server_ca,
        backoff_base=0.01,
        backoff_max=0.05,
        connect_timeout=5,
        request_timeout=5,
    )
    return replace(config, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def client(pki: TestPki, server: FakeApnsServer) -> Iterator[ApnsClient]:
    apns = ApnsClient(config_for(pki, server))
    yield apns
    apns.close()


# -- classification ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (200, None, Outcome.DELIVERED),
        (410, "Unregistered", Outcome.UNREGISTER),
        (410, "ExpiredToken", Outcome.UNREGISTER),
        (400, "BadDeviceToken", Outcome.UNREGISTER),
        (400, "DeviceTokenNotForTopic", Outcome.UNREGISTER),
        (400, "TopicDisallowed", Outcome.FAILED),
        (400, "PayloadEmpty", Outcome.FAILED),
        (403, "BadCertificate", Outcome.FAILED),
        (413, "PayloadTooLarge", Outcome.FAILED),
        (429, "TooManyRequests", Outcome.RETRY),
        (500, "InternalServerError", Outcome.RETRY),
        (503, "ServiceUnavailable", Outcome.RETRY),
        (None, "connection reset", Outcome.RETRY),
    ],
)
def test_classify(status: int | None, reason: str | None, expected: Outcome) -> None:
    assert classify(status, reason) is expected


# -- answers -------------------------------------------------------------------------------


def test_delivered(client: ApnsClient, server: FakeApnsServer, pki: TestPki) -> None:
    [result] = client.send_pushes(pki.topic, [token(1)])
    assert result.outcome is Outcome.DELIVERED
    assert (result.status, result.reason, result.attempts) == (200, None, 1)
    assert result.apns_id
    [push] = server.pushes()
    assert (push.token, push.topic, push.apns_id) == (token(1), pki.topic, result.apns_id)


def test_unregistered_and_bad_tokens_are_unregister(
    client: ApnsClient, server: FakeApnsServer, pki: TestPki
) -> None:
    server.state.set_unregistered([token(2)], timestamp_ms=1_700_000_000_000)
    short = "ab" * 31  # hex but not 64 characters: APNs answers BadDeviceToken
    gone, bad, garbage, fine = client.send_pushes(
        pki.topic, [token(2), short, "../../etc/passwd", token(3)]
    )
    assert (gone.status, gone.reason, gone.outcome) == (410, "Unregistered", Outcome.UNREGISTER)
    assert gone.timestamp == 1_700_000_000_000
    assert (bad.status, bad.reason, bad.outcome) == (400, "BadDeviceToken", Outcome.UNREGISTER)
    # Never sent: not a hex token, so it cannot be put into a request path.
    assert (garbage.status, garbage.outcome, garbage.attempts) == (None, Outcome.UNREGISTER, 0)
    assert fine.outcome is Outcome.DELIVERED
    assert server.pushed_tokens() == {token(3)}


def test_429_then_200_is_retried_and_delivered(
    client: ApnsClient, server: FakeApnsServer, pki: TestPki
) -> None:
    server.state.fail_first(token(4), 1, 429)
    [result] = client.send_pushes(pki.topic, [token(4)])
    assert (result.outcome, result.status, result.attempts) == (Outcome.DELIVERED, 200, 2)
    assert server.state.stats()["requests"] == 2


def test_persistent_503_fails_after_max_attempts(pki: TestPki, server: FakeApnsServer) -> None:
    server.state.fail_first(token(5), 100, 503)
    apns = ApnsClient(config_for(pki, server, max_attempts=4))
    try:
        [result] = apns.send_pushes(pki.topic, [token(5)])
    finally:
        apns.close()
    assert result.outcome is Outcome.FAILED
    assert (result.status, result.reason, result.attempts) == (503, "ServiceUnavailable", 4)
    assert server.state.stats()["requests"] == 4
    assert server.pushes() == []


def test_wrong_topic_is_rejected_and_not_retried(
    client: ApnsClient, server: FakeApnsServer
) -> None:
    [result] = client.send_pushes("pass.com.example.other", [token(6)])
    assert (result.status, result.reason, result.outcome) == (400, "TopicDisallowed", "failed")
    assert result.attempts == 1
    assert server.pushes() == []


def test_certificate_of_another_pass_type_cannot_push_this_topic(
    pki: TestPki, server: FakeApnsServer
) -> None:
    cert, key = pki.issue_client_cert("pass.com.example.other", "other-client")
    apns = ApnsClient(config_for(pki, server, cert_file=cert, key_file=key))
    try:
        [mine, theirs] = [
            apns.send_pushes("pass.com.example.other", [token(7)])[0],
            apns.send_pushes(pki.topic, [token(8)])[0],
        ]
    finally:
        apns.close()
    assert mine.outcome is Outcome.DELIVERED
    assert (theirs.status, theirs.reason) == (400, "TopicDisallowed")


def test_trailing_empty_data_frame_is_fine(pki: TestPki) -> None:
    fake = start_server(pki, trailing_empty_data=True)
    apns = ApnsClient(config_for(pki, fake))
    try:
        results = apns.send_pushes(pki.topic, [token(i) for i in range(20)])
    finally:
        apns.close()
        fake.stop()
    assert {r.outcome for r in results} == {Outcome.DELIVERED}


# -- TLS -----------------------------------------------------------------------------------


def test_client_without_certificate_is_rejected_at_tls(
    pki: TestPki, server: FakeApnsServer
) -> None:
    apns = ApnsClient(config_for(pki, server, cert_file=None, key_file=None, max_attempts=2))
    try:
        [result] = apns.send_pushes(pki.topic, [token(9)])
    finally:
        apns.close()
    assert (result.outcome, result.status) == (Outcome.FAILED, None)
    assert "certificate" in (result.reason or "").lower()
    assert server.state.stats()["connections_total"] == 0


def test_certificate_from_memory(pki: TestPki, server: FakeApnsServer) -> None:
    config = config_for(
        pki,
        server,
        cert_file=None,
        key_file=None,
        cert_pem=pki.client_cert.read_bytes(),
        key_pem=pki.client_key.read_bytes(),
    )
    assert "BEGIN" not in repr(config)  # key material stays out of logs and tracebacks
    apns = ApnsClient(config)
    try:
        [result] = apns.send_pushes(pki.topic, [token(10)])
    finally:
        apns.close()
    assert result.outcome is Outcome.DELIVERED


def test_missing_certificate_file_fails_the_call(pki: TestPki, server: FakeApnsServer) -> None:
    apns = ApnsClient(config_for(pki, server, cert_file=Path("/nonexistent.pem")))
    with pytest.raises(OSError):
        apns.send_pushes(pki.topic, [token(11)])


# -- concurrency and connections -----------------------------------------------------------


def test_many_pushes_share_one_connection_concurrently(pki: TestPki) -> None:
    # A short answer delay keeps streams open, so the server sees how many overlap.
    fake = start_server(pki, response_delay=0.2)
    apns = ApnsClient(config_for(pki, fake))
    tokens = [token(i) for i in range(1500)]
    try:
        results = apns.send_pushes(pki.topic, tokens)
    finally:
        apns.close()
        fake.stop()
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * len(tokens)
    assert [r.token for r in results] == tokens
    stats = fake.state.stats()
    assert stats["connections_total"] == 1
    assert stats["requests"] == len(tokens)
    assert fake.pushed_tokens() == set(tokens)
    assert stats["max_in_flight"] >= 500  # hundreds of concurrent streams
    assert {p.connection for p in fake.pushes()} == {1}


def test_server_stream_limit_is_respected(pki: TestPki) -> None:
    fake = start_server(pki, max_concurrent_streams=50, response_delay=0.02)
    apns = ApnsClient(config_for(pki, fake))
    try:
        results = apns.send_pushes(pki.topic, [token(i) for i in range(400)])
    finally:
        apns.close()
        fake.stop()
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert fake.state.stats()["max_in_flight"] == 50  # exceeding it would be a protocol error


def test_threads_share_the_process_connection(
    client: ApnsClient, server: FakeApnsServer, pki: TestPki
) -> None:
    outcomes: list[Outcome] = []

    def work(base: int) -> None:
        outcomes.extend(
            r.outcome for r in client.send_pushes(pki.topic, [token(base + i) for i in range(100)])
        )

    threads = [threading.Thread(target=work, args=(1000 * n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [Outcome.DELIVERED] * 400
    assert server.state.stats()["connections_total"] == 1


def test_reconnects_after_server_drops_connection(
    client: ApnsClient, server: FakeApnsServer, pki: TestPki
) -> None:
    assert client.send_pushes(pki.topic, [token(1)])[0].outcome is Outcome.DELIVERED
    server.drop_connections()
    results = client.send_pushes(pki.topic, [token(i) for i in range(2, 50)])
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert server.state.stats()["connections_total"] == 2
    assert client.connections_opened == 2


def test_in_flight_streams_are_retried_when_connection_drops(pki: TestPki) -> None:
    fake = start_server(pki, response_delay=0.3)
    apns = ApnsClient(config_for(pki, fake))
    tokens = [token(i) for i in range(200)]
    try:
        apns.send_pushes(pki.topic, [token(999)])  # connect first
        outcome: list[list[Outcome]] = []
        worker = threading.Thread(
            target=lambda: outcome.append([r.outcome for r in apns.send_pushes(pki.topic, tokens)])
        )
        worker.start()
        deadline = time.monotonic() + 5
        while fake.state.stats()["requests"] < 201 and time.monotonic() < deadline:
            time.sleep(0.01)
        fake.drop_connections()  # every one of the 200 is in flight, none answered yet
        worker.join(timeout=20)
    finally:
        apns.close()
        fake.stop()
    assert outcome == [[Outcome.DELIVERED] * len(tokens)]
    assert fake.state.stats()["connections_total"] == 2
    assert fake.pushed_tokens() >= set(tokens)


def test_goaway_streams_are_resent_on_a_new_connection(pki: TestPki) -> None:
    fake = start_server(pki)
    fake.state.goaway_after = 100  # like hypercorn's request limit, but announced properly
    apns = ApnsClient(config_for(pki, fake, max_attempts=1))  # no backoff retries allowed
    tokens = [token(i) for i in range(300)]
    try:
        results = apns.send_pushes(pki.topic, tokens)
    finally:
        apns.close()
        fake.stop()
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert {r.attempts for r in results} == {1}  # re-sending a refused stream is free
    assert fake.state.stats()["connections_total"] >= 3
    assert len(fake.pushes()) == len(tokens)  # no push delivered twice


def test_unanswered_stream_times_out_and_fails(pki: TestPki) -> None:
    fake = start_server(pki, response_delay=2.0)
    apns = ApnsClient(config_for(pki, fake, request_timeout=0.2, max_attempts=2))
    try:
        started = time.monotonic()
        [result] = apns.send_pushes(pki.topic, [token(1)])
        elapsed = time.monotonic() - started
    finally:
        apns.close()
        fake.stop()
    assert (result.outcome, result.status, result.attempts) == (Outcome.FAILED, None, 2)
    assert "timed out" in (result.reason or "")
    assert elapsed < 1.9


def test_server_down_fails_after_retries(pki: TestPki) -> None:
    fake = start_server(pki)
    port = fake.port
    fake.stop()
    config = replace(config_for(pki, fake), port=port)
    apns = ApnsClient(config)
    try:
        results = apns.send_pushes(pki.topic, [token(i) for i in range(300)])
    finally:
        apns.close()
    assert {r.outcome for r in results} == {Outcome.FAILED}
    assert {r.attempts for r in results} == {3}
    assert all("connect" in (r.reason or "") for r in results)


def test_close_then_reuse(client: ApnsClient, server: FakeApnsServer, pki: TestPki) -> None:
    assert client.send_pushes(pki.topic, [token(1)])[0].outcome is Outcome.DELIVERED
    client.close()
    assert client.send_pushes(pki.topic, [token(2)])[0].outcome is Outcome.DELIVERED
    assert server.state.stats()["connections_total"] == 2


def test_shared_client_is_one_per_config(pki: TestPki, server: FakeApnsServer) -> None:
    config = config_for(pki, server)
    assert shared_client(config) is shared_client(replace(config))
    assert shared_client(config) is not shared_client(replace(config, max_attempts=9))


# -- fork ------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_builds_its_own_connection(
    client: ApnsClient, server: FakeApnsServer, pki: TestPki
) -> None:
    # The parent connects first, as a Celery master that pushed before forking would.
    assert client.send_pushes(pki.topic, [token(1)])[0].outcome is Outcome.DELIVERED
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe, never return into pytest
        status = 1
        try:
            signal.alarm(20)  # a hung child must not outlive the test run
            os.close(read_end)
            results = client.send_pushes(pki.topic, [token(i) for i in range(2, 12)])
            report = {
                "outcomes": [r.outcome.value for r in results],
                "opened": client.connections_opened,
            }
            os.write(write_end, json.dumps(report).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read() or b"{}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == {"outcomes": ["delivered"] * 10, "opened": 1}
    assert server.state.stats()["connections_total"] == 2
    # The parent's connection was left untouched by the child and still works.
    assert client.send_pushes(pki.topic, [token(20)])[0].outcome is Outcome.DELIVERED
    assert server.state.stats()["connections_total"] == 2
    assert client.connections_opened == 1
    child_connection = {p.connection for p in server.pushes() if p.token == token(2)}
    parent_connection = {p.connection for p in server.pushes() if p.token == token(20)}
    assert child_connection != parent_connection


# -- asyncio API -------------------------------------------------------------------------------


def test_async_client_in_a_running_loop(pki: TestPki, server: FakeApnsServer) -> None:
    async def main() -> list[Outcome]:
        apns = AsyncApnsClient(config_for(pki, server))
        try:
            results = await apns.send_pushes(pki.topic, [token(i) for i in range(10)])
            single = await apns.send(pki.topic, token(99))
        finally:
            await apns.close()
        return [r.outcome for r in [*results, single]]

    assert asyncio.run(main()) == [Outcome.DELIVERED] * 11
    assert server.state.stats()["connections_total"] == 1


def test_duplicate_tokens_are_pushed_once(
    client: ApnsClient, server: FakeApnsServer, pki: TestPki
) -> None:
    results = client.send_pushes(pki.topic, [token(1), token(2), token(1)])
    assert [r.token for r in results] == [token(1), token(2), token(1)]
    assert results[0] is results[2]
    assert server.state.stats()["requests"] == 2


def test_empty_payload_is_sent_without_a_body(pki: TestPki, server: FakeApnsServer) -> None:
    apns = ApnsClient(config_for(pki, server, payload=b""))
    try:
        [result] = apns.send_pushes(pki.topic, [token(1)])
    finally:
        apns.close()
    assert (result.status, result.reason, result.outcome) == (400, "PayloadEmpty", "failed")


def test_cancelled_batch_stops_sending_and_the_client_stays_usable(pki: TestPki) -> None:
    fake = start_server(pki, response_delay=0.3)

    async def main() -> list[Outcome]:
        apns = AsyncApnsClient(config_for(pki, fake, max_streams=10))
        try:
            await apns.send(pki.topic, token(999))  # connected
            batch = asyncio.ensure_future(
                apns.send_pushes(pki.topic, [token(i) for i in range(100)])
            )
            while fake.state.stats()["requests"] < 11:  # 10 in flight, 90 wait for a stream
                await asyncio.sleep(0.01)
            batch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await batch
            assert not apns.queue
            await asyncio.sleep(0.3)  # the 10 in-flight answers arrive and are dropped
            later = await apns.send_pushes(pki.topic, [token(1000 + i) for i in range(5)])
        finally:
            await apns.close()
        return [r.outcome for r in later]

    try:
        assert asyncio.run(main()) == [Outcome.DELIVERED] * 5
        assert fake.state.stats()["requests"] == 1 + 10 + 5
    finally:
        fake.stop()


def test_a_small_batch_is_not_stuck_behind_a_big_one(pki: TestPki) -> None:
    fake = start_server(pki, response_delay=0.05)

    async def main() -> None:
        apns = AsyncApnsClient(config_for(pki, fake, max_streams=10))
        try:
            big = asyncio.ensure_future(apns.send_pushes(pki.topic, [token(i) for i in range(300)]))
            await asyncio.sleep(0.1)
            small = await apns.send_pushes(pki.topic, [token(1000 + i) for i in range(5)])
            assert not big.done()  # ~1.5 s of work at 10 streams and 50 ms per answer
            assert {r.outcome for r in small} == {Outcome.DELIVERED}
            assert {r.outcome for r in await big} == {Outcome.DELIVERED}
        finally:
            await apns.close()

    try:
        asyncio.run(main())
    finally:
        fake.stop()


# -- HTTP/2 and HPACK details, against the h2 library as an in-memory server -------------


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
            asyncio.get_running_loop().call_soon(self._peer.connection.connection_lost, None)

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
    """(type, flags, stream id, payload) of each frame in ``data``."""
    frames, pos = [], 0
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
        client: AsyncApnsClient,
        *,
        settings: dict[int, int] | None = None,
        respond: Respond = _answer_200,
        chunk: int = 0,
        ack: bool = True,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.connection = _Connection(client, self.loop)
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

    async def start(self) -> None:
        self.connection.connection_made(self.transport)
        await self.connection.ready
        self.connection._client._conn = self.connection

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
            self.loop.call_soon(self.connection.data_received, data[start : start + step])


def _fresh_client(**overrides: object) -> AsyncApnsClient:
    config = ApnsConfig(host="apns.test", backoff_base=0.001, backoff_max=0.002)
    return AsyncApnsClient(replace(config, **overrides), ssl.create_default_context())  # type: ignore[arg-type]


async def _peer(**options: Any) -> tuple[AsyncApnsClient, _Peer]:
    client_options = options.pop("client", {})
    client = _fresh_client(**client_options)
    peer = _Peer(client, **options)
    await peer.start()
    return client, peer


def test_request_headers_and_body_on_the_wire() -> None:
    async def main() -> None:
        client, peer = await _peer()
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
        client, peer = await _peer()
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
        client, _ = await _peer(chunk=1)
        results = await client.send_pushes("t", [token(i) for i in range(30)])
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert [r.apns_id for r in results] == [f"ID-{2 * i + 1}" for i in range(30)]

    asyncio.run(main())


def test_body_waits_for_stream_window_updates() -> None:
    # A server granting streams no window at all: the body may only follow WINDOW_UPDATEs.
    async def main() -> None:
        client, peer = await _peer(settings={SettingCodes.INITIAL_WINDOW_SIZE: 0}, ack=False)
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
        client, peer = await _peer(client={"payload": payload}, respond=answer_when_complete)
        # Connection-level credit comes only from the acknowledgements h2 sends back.
        results = await asyncio.wait_for(client.send_pushes("t", [token(1), token(2)]), 5)
        assert {r.outcome for r in results} == {Outcome.DELIVERED}
        assert len(peer.requests) == 2

    asyncio.run(main())


def test_settings_changes_are_honoured() -> None:
    async def main() -> None:
        client, peer = await _peer(
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
        _, peer = await _peer()
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
        client, peer = await _peer(client={"max_attempts": 1}, respond=refuse_first)
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
        client, _ = await _peer(client={"max_attempts": 1}, respond=reset_first)
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
        client, _ = await _peer(respond=answer)
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
        client, _ = await _peer(respond=answer_raw)
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
        client, peer = await _peer(client={"max_attempts": 1}, respond=misbehave)
        [result] = await client.send_pushes("t", [token(1)])
        assert (result.outcome, result.status) == ("failed", None)
        assert (result.reason or "").startswith("HTTP/2 protocol error")
        [goaway] = [e for e in peer.events if isinstance(e, ConnectionTerminated)]
        assert goaway.error_code == code
        assert peer.connection.closed

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
        client, first = await _peer(client={"max_attempts": 1}, respond=goaway_after_first)
        peers = [first]

        async def connect_again() -> None:  # stands in for a new TLS connection
            peers.append(_Peer(client))
            await peers[-1].start()
            client._connecting = None
            client._kick()

        client._connect = connect_again  # type: ignore[method-assign]
        results = await client.send_pushes("t", [token(i) for i in range(3)])
        assert [(r.outcome, r.attempts) for r in results] == [("delivered", 1)] * 3
        assert [r.apns_id for r in results] == ["ID-1", "ID-1", "ID-3"]  # 2nd connection
        assert [stream_id for stream_id, _, _ in first.requests] == [1, 3, 5]
        assert [h[b":path"][-2:] for _, h, _ in peers[1].requests] == [b"01", b"02"]
        await asyncio.sleep(0)
        assert first.connection.closed  # nothing left in flight: closed after the GOAWAY

    asyncio.run(main())


# -- HPACK ------------------------------------------------------------------------------------


def test_huffman_decoding_matches_hpack() -> None:
    rng = random.Random(5)
    samples = [
        bytes(range(256)),
        b"",
        b"a",
        *(rng.randbytes(rng.randrange(60)) for _ in range(300)),
    ]
    for raw in samples:
        encoded = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH).encode(raw)
        assert _huffman_decode(encoded) == raw
    with pytest.raises(_HpackError):
        _huffman_decode(b"\xff\xff\xff\xff")  # EOS
    with pytest.raises(_HpackError):
        _huffman_decode(b"\x00")  # "0" then 3 zero bits of padding


def test_hpack_decoder_follows_the_encoders_dynamic_table() -> None:
    rng = random.Random(7)
    encoder, reference, ours = Encoder(), Decoder(), _HpackDecoder()
    names = [b":status", b"apns-id", b"content-type", b"x-a", b"x-b", b"server"]
    for block_number in range(400):
        if block_number % 50 == 25:
            encoder.header_table_size = rng.choice([0, 100, 1024, 4096])
        headers: list[tuple[bytes, bytes]] = [
            (rng.choice(names), rng.randbytes(rng.randrange(1, 80)).hex().encode())
            for _ in range(rng.randrange(1, 6))
        ]
        block = encoder.encode(headers, huffman=bool(block_number % 3))
        assert ours.decode(block) == [tuple(h) for h in reference.decode(block, raw=True)]


def test_request_encoder_keeps_in_step_with_the_servers_table() -> None:
    rng = random.Random(11)
    encoder, server = _RequestEncoder(b"apns.test:2197", b"2"), Decoder()
    topics = [f"pass.com.example.{n}".encode() for n in range(40)] + [b"p" * 900]
    evicted = False
    for _ in range(3000):
        for _ in range(rng.choice([0] * 30 + [1, 2])):  # limit changes, maybe several
            limit = rng.choice([0, 64, 100, 200, 256, 1000, 4096, 65536])
            server.max_allowed_table_size = limit  # what acknowledging SETTINGS does
            encoder.set_limit(limit)
        topic = rng.choice(topics[:8] if rng.random() < 0.9 else topics)
        pre, post, _ = encoder.template(topic)
        path = b"/3/device/" + rng.randbytes(32).hex().encode()
        block = pre + b"\x14" + bytes([len(path)]) + path + post
        size_before = len(server.header_table.dynamic_entries)
        assert server.decode(block, raw=True) == [
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", b"apns.test:2197"),
            (b":path", path),
            (b"apns-topic", topic),
            (b"content-length", b"2"),
        ]
        evicted = evicted or len(server.header_table.dynamic_entries) < size_before
    assert evicted
