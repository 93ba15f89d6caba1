"""The APNs client through its facade (:class:`ApnsClient`, a ``PushSender``) and its asyncio
engine, against the in-process fake APNs server (real TLS + HTTP/2)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dev.fake_apns import FakeApnsServer, ServerOptions
from dev.fake_apns.certs import TestPki, generate_test_pki
from shared.clients.apns import (
    ApnsClient,
    ApnsConfig,
    AsyncApnsClient,
    Outcome,
    classify,
    shared_client,
)
from tests.unit.apns.helpers import token

pytestmark = pytest.mark.timeout(60)


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
