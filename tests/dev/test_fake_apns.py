"""The fake APNs server, spoken to with a bare blocking ``h2`` client (not our APNs client),
so these tests pin the wire behaviour itself."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
)
from h2.settings import SettingCodes

from dev.fake_apns import FakeApnsControl, FakeApnsServer, ServerOptions
from dev.fake_apns.certs import TestPki, generate_test_pki, make_ca

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "a1" * 32


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return generate_test_pki(tmp_path_factory.mktemp("fake-apns-pki"))


@pytest.fixture
def server(pki: TestPki) -> Iterator[FakeApnsServer]:
    fake = FakeApnsServer(pki.server_cert, pki.server_key, pki.client_ca, seed=7).start()
    yield fake
    fake.stop()


@dataclass
class Response:
    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""
    ended_on_headers: bool = False
    data_frames: int = 0


class RawClient:
    """Just enough blocking HTTP/2 to send APNs requests and see every frame's effect."""

    def __init__(self, port: int, pki: TestPki, cert: tuple[Path, Path] | None = None) -> None:
        context = ssl.create_default_context(cafile=str(pki.server_ca))
        context.set_alpn_protocols(["h2"])
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            self.sock = context.wrap_socket(raw, server_hostname="localhost")
        except BaseException:
            raw.close()
            raise
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.max_streams = 0
        self.goaway: ConnectionTerminated | None = None
        try:
            self.h2.initiate_connection()
            self.sock.sendall(self.h2.data_to_send())
            while not self.max_streams:
                if not self._pump({}):
                    raise EOFError("server closed the connection")  # how TLS 1.3 rejects
        except BaseException:
            self.sock.close()
            raise

    def _pump(self, responses: dict[int, Response]) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        for event in self.h2.receive_data(data):
            if isinstance(event, RemoteSettingsChanged):
                changed = event.changed_settings.get(SettingCodes.MAX_CONCURRENT_STREAMS)
                if changed is not None:
                    self.max_streams = changed.new_value
            elif isinstance(event, ResponseReceived):
                response = responses[event.stream_id]
                response.headers = dict(event.headers)
                response.status = int(response.headers[b":status"])
                response.ended_on_headers = event.stream_ended is not None
            elif isinstance(event, DataReceived):
                responses[event.stream_id].body += event.data
                responses[event.stream_id].data_frames += 1
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self.goaway = event
        self.sock.sendall(self.h2.data_to_send())
        return True

    def request(
        self,
        token: str = TOKEN,
        topic: str | None = "pass.com.example.demo",
        body: bytes = b"{}",
        method: bytes = b"POST",
        path: bytes | None = None,
    ) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (b":method", method),
            (b":scheme", b"https"),
            (b":authority", b"localhost"),
            (b":path", path if path is not None else b"/3/device/" + token.encode()),
        ]
        if topic is not None:
            headers.append((b"apns-topic", topic.encode()))
        self.h2.send_headers(stream_id, headers, end_stream=not body)
        if body:
            self.h2.send_data(stream_id, body, end_stream=True)
        return stream_id

    def exchange(self, stream_ids: Sequence[int]) -> list[Response]:
        """Flush the requests and wait until every one of them has ended."""
        responses = {i: Response() for i in stream_ids}
        self.sock.sendall(self.h2.data_to_send())
        pending = set(stream_ids)
        while pending:
            # A stream ends when its response did; check the h2 state after each read.
            if not self._pump(responses):
                break
            pending = {i for i in pending if not self._ended(i)}
            if self.goaway is not None:  # streams above its last id will never be answered
                pending = {i for i in pending if i <= (self.goaway.last_stream_id or 0)}
        return [responses[i] for i in stream_ids]

    def _ended(self, stream_id: int) -> bool:
        stream = self.h2.streams.get(stream_id)
        return stream is None or stream.closed

    def one(self, **request: object) -> Response:
        return self.exchange([self.request(**request)])[0]  # type: ignore[arg-type]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(server: FakeApnsServer, pki: TestPki) -> Iterator[RawClient]:
    client = RawClient(server.port, pki, (pki.client_cert, pki.client_key))
    yield client
    client.close()


# -- answers -------------------------------------------------------------------------------


def test_200_carries_apns_id_and_ends_on_headers(raw: RawClient, server: FakeApnsServer) -> None:
    response = raw.one()
    assert response.status == 200
    assert response.ended_on_headers
    assert (response.data_frames, response.body) == (0, b"")
    assert len(response.headers[b"apns-id"]) == 36
    [push] = server.pushes()
    assert (push.token, push.topic) == (TOKEN, "pass.com.example.demo")
    assert push.apns_id == response.headers[b"apns-id"].decode()


@pytest.mark.parametrize(
    ("request_args", "status", "reason"),
    [
        ({"token": "zz" * 32}, 400, "BadDeviceToken"),
        ({"token": "ab" * 31}, 400, "BadDeviceToken"),
        ({"token": ""}, 400, "MissingDeviceToken"),
        ({"topic": "pass.com.example.other"}, 400, "TopicDisallowed"),
        ({"topic": None}, 400, "MissingTopic"),
        ({"body": b""}, 400, "PayloadEmpty"),
        ({"body": b"x" * 5000}, 413, "PayloadTooLarge"),
        ({"path": b"/3/devices/" + TOKEN.encode()}, 404, "BadPath"),
        ({"method": b"GET", "body": b""}, 405, "MethodNotAllowed"),
    ],
)
def test_invalid_requests_get_apple_reasons(
    raw: RawClient,
    server: FakeApnsServer,
    request_args: dict[str, object],
    status: int,
    reason: str,
) -> None:
    response = raw.one(**request_args)
    assert (response.status, response.body) == (status, f'{{"reason":"{reason}"}}'.encode())
    assert response.headers[b"content-type"].startswith(b"application/json")
    assert server.pushes() == []


def test_unregistered_token_gets_410_with_timestamp(raw: RawClient, server: FakeApnsServer) -> None:
    server.state.set_unregistered([TOKEN.upper()], timestamp_ms=1234)
    response = raw.one()
    assert (response.status, response.body) == (410, b'{"reason":"Unregistered","timestamp":1234}')


def test_fail_first_n_requests_for_a_token(raw: RawClient, server: FakeApnsServer) -> None:
    server.state.fail_first(TOKEN, 2, 429)
    statuses = [raw.one().status for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert len(server.pushes()) == 1


def test_error_rate_injects_a_fraction(raw: RawClient, server: FakeApnsServer) -> None:
    server.state.set_error_rate(0.5, [500, 503])
    responses = raw.exchange([raw.request(token=f"{i:064x}") for i in range(400)])
    statuses = [r.status for r in responses]
    assert set(statuses) == {200, 500, 503}
    assert 120 < statuses.count(200) < 280
    assert len(server.pushes()) == statuses.count(200)


# -- connection behaviour ------------------------------------------------------------------


def test_more_than_1000_requests_and_streams_on_one_connection(
    raw: RawClient, server: FakeApnsServer
) -> None:
    assert raw.max_streams == 1000
    tokens = [f"{i:064x}" for i in range(1200)]
    statuses: list[int] = []
    for start in range(0, len(tokens), 1000):  # 1,000 concurrent streams per round
        ids = [raw.request(token=t) for t in tokens[start : start + 1000]]
        statuses += [r.status for r in raw.exchange(ids)]
    assert statuses == [200] * len(tokens)
    assert server.pushed_tokens() == set(tokens)
    assert server.state.stats()["connections_total"] == 1
    assert raw.goaway is None


def test_goaway_after_n_requests_names_the_last_processed_stream(
    raw: RawClient, server: FakeApnsServer
) -> None:
    server.state.goaway_after = 3
    ids = [raw.request(token=f"{i:064x}") for i in range(5)]
    responses = raw.exchange(ids)
    assert [r.status for r in responses[:3]] == [200, 200, 200]
    assert raw.goaway is not None
    assert raw.goaway.last_stream_id == ids[2]
    assert len(server.pushes()) == 3


def test_trailing_empty_data_option(pki: TestPki) -> None:
    fake = FakeApnsServer(
        pki.server_cert,
        pki.server_key,
        pki.client_ca,
        options=ServerOptions(trailing_empty_data=True),
    ).start()
    client = RawClient(fake.port, pki, (pki.client_cert, pki.client_key))
    try:
        response = client.one()
    finally:
        client.close()
        fake.stop()
    assert response.status == 200
    assert (response.ended_on_headers, response.data_frames) == (False, 1)


def test_drop_connections(raw: RawClient, server: FakeApnsServer) -> None:
    assert raw.one().status == 200
    server.drop_connections()
    assert raw.sock.recv(10) == b""


# -- TLS -------------------------------------------------------------------------------------


def test_client_without_certificate_is_rejected(server: FakeApnsServer, pki: TestPki) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
        RawClient(server.port, pki, cert=None)
    assert server.state.stats()["connections_total"] == 0


def test_certificate_from_another_ca_is_rejected(
    server: FakeApnsServer, pki: TestPki, tmp_path: Path
) -> None:
    rogue = generate_test_pki(tmp_path)  # same subject names, different WWDR CA
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
        RawClient(server.port, pki, (rogue.client_cert, rogue.client_key))
    assert server.pushes() == []


def test_topic_must_match_the_certificate_uid(server: FakeApnsServer, pki: TestPki) -> None:
    other = pki.issue_client_cert("pass.com.example.other", "other")
    client = RawClient(server.port, pki, other)
    try:
        mine = client.one(topic="pass.com.example.other")
        demo = client.one(topic="pass.com.example.demo")
    finally:
        client.close()
    assert mine.status == 200
    assert (demo.status, demo.body) == (400, b'{"reason":"TopicDisallowed"}')


def test_make_ca_is_a_ca() -> None:
    ca = make_ca("x")
    assert ca.cert.issuer == ca.cert.subject


# -- process mode and control surface --------------------------------------------------------


@pytest.fixture
def fake_process(pki: TestPki) -> Iterator[tuple[int, FakeApnsControl]]:
    command = [
        sys.executable,
        "-m",
        "dev.fake_apns",
        "--port",
        "0",
        "--cert",
        str(pki.server_cert),
        "--key",
        str(pki.server_key),
        "--client-ca",
        str(pki.client_ca),
        "--unregistered",
        "ff" * 32,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")))  # type: ignore[union-attr]
    try:
        control_line = process.stdout.readline()
        ready_line = process.stdout.readline()
        assert control_line.startswith("fake apns control on http://127.0.0.1:")
        assert ready_line.startswith("fake apns listening on 127.0.0.1:")
        reader.start()
        yield int(ready_line.rsplit(":", 1)[1]), FakeApnsControl(control_line.split()[-1])
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0  # SIGTERM is a clean shutdown
        if reader.is_alive():
            reader.join(timeout=5)
        process.stdout.close()


def test_process_mode_with_control_surface(
    fake_process: tuple[int, FakeApnsControl], pki: TestPki
) -> None:
    port, control = fake_process
    control.configure(fail_first=[{"token": "ee" * 32, "count": 1, "status": 503}])
    client = RawClient(port, pki, (pki.client_cert, pki.client_key))
    try:
        responses = client.exchange(
            [client.request(token=t) for t in ("ff" * 32, "ee" * 32, TOKEN)]
        )
    finally:
        client.close()
    assert [r.status for r in responses] == [410, 503, 200]
    assert control.pushed_tokens() == {TOKEN}
    [push] = control.pushes(TOKEN)
    assert push["topic"] == "pass.com.example.demo"
    assert control.stats()["requests"] == 3
    control.reset()
    assert control.pushes() == []
    assert control.stats()["requests"] == 0
