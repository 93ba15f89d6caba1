"""Throughput and client CPU cost of Wallet pushes against the fake APNs server.

    .venv/bin/python bench/apns_bench.py --pushes 20000 --runs 5 --client own h2

Engines: ``own`` (shared.clients.apns, the product's), ``h2`` (the h2 library's HTTP/2
state machine driven by a small asyncio protocol here), ``pycurl`` (libcurl's HTTP/2
multiplexing) and ``httpx`` (httpx[http2]). With several engines, runs alternate between
them, so machine load hits each alike.

The fake server runs in its own process, so ``time.process_time()`` here measures the
clients alone (event-loop threads included). Each run reuses the warm connection, as a
long-lived worker does; connection set-up is excluded. The fake server (Python, h2) is the
throughput bound; the load averages printed say how busy the machine was.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dev.fake_apns.certs import TestPki, generate_test_pki
from shared.clients.apns import ApnsClient, ApnsConfig, build_ssl_context

Send = Callable[[list[str]], int]  # pushes a batch, returns how many were delivered


@contextmanager
def fake_server(pki: TestPki) -> Iterator[int]:
    command = [
        sys.executable,
        "-m",
        "dev.fake_apns",
        "--port=0",
        "--control-port=-1",
        f"--cert={pki.server_cert}",
        f"--key={pki.server_key}",
        f"--client-ca={pki.client_ca}",
    ]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=root, env=env)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("fake apns listening on "):
                yield int(line.rsplit(":", 1)[1])
                break
        else:
            raise RuntimeError("fake apns server did not start")
    finally:
        process.terminate()
        process.wait(timeout=10)


def load() -> str:
    return "load average " + ", ".join(f"{n:.2f}" for n in os.getloadavg())


def tokens(count: int) -> list[str]:
    return [secrets.token_hex(32) for _ in range(count)]


def own_client(config: ApnsConfig, topic: str, concurrency: int) -> Send:
    client = ApnsClient(config)  # concurrency: config.max_streams

    def run(batch: list[str]) -> int:
        results = client.send_pushes(topic, batch)
        return sum(r.outcome == "delivered" for r in results)

    return run


def httpx_client(config: ApnsConfig, topic: str, concurrency: int) -> Send:
    import httpx  # noqa: PLC0415 - only for this comparison

    loop = asyncio.new_event_loop()
    context: ssl.SSLContext = build_ssl_context(config)
    client = httpx.AsyncClient(
        http2=True,
        verify=context,
        base_url=f"https://{config.host}:{config.port}",
        limits=httpx.Limits(max_connections=1),
    )
    headers = {"apns-topic": topic}

    async def one(token: str, gate: asyncio.Semaphore) -> bool:
        async with gate:
            response = await client.post(f"/3/device/{token}", content=b"{}", headers=headers)
            return response.status_code == 200

    async def many(batch: list[str]) -> int:
        gate = asyncio.Semaphore(concurrency)
        return sum(await asyncio.gather(*(one(t, gate) for t in batch)))

    return lambda batch: loop.run_until_complete(many(batch))


def h2_client(config: ApnsConfig, topic: str, concurrency: int) -> Send:
    """One connection driven by the h2 library's state machine: per push a coroutine and
    a future, frames of a loop iteration written together (as our engine does)."""
    from h2.config import H2Configuration  # noqa: PLC0415 - only for this comparison
    from h2.connection import H2Connection  # noqa: PLC0415
    from h2.events import (  # noqa: PLC0415
        DataReceived,
        RemoteSettingsChanged,
        ResponseReceived,
        StreamEnded,
        StreamReset,
        WindowUpdated,
    )
    from hpack import NeverIndexedHeaderTuple  # noqa: PLC0415

    loop = asyncio.new_event_loop()
    authority = f"{config.host}:{config.port}".encode()
    constant = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", authority),
    ]
    trailing = [(b"apns-topic", topic.encode()), (b"content-length", b"2")]

    class Http2(asyncio.Protocol):
        def __init__(self) -> None:
            self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding=None))
            self.transport: asyncio.Transport | None = None
            self.ready: asyncio.Future[None] = loop.create_future()
            self.waiters: dict[int, asyncio.Future[int]] = {}
            self.status: dict[int, int] = {}
            self.window: asyncio.Event = asyncio.Event()
            self.flush_pending = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]
            self.h2.initiate_connection()
            self.flush()

        def data_received(self, data: bytes) -> None:
            for event in self.h2.receive_data(data):
                if isinstance(event, ResponseReceived):
                    self.status[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, DataReceived):
                    length = event.flow_controlled_length
                    self.h2.acknowledge_received_data(length, event.stream_id)
                elif isinstance(event, StreamEnded | StreamReset):
                    status = self.status.pop(event.stream_id, 0)
                    self.waiters.pop(event.stream_id).set_result(status)
                elif isinstance(event, WindowUpdated):
                    self.window.set()
                elif isinstance(event, RemoteSettingsChanged) and not self.ready.done():
                    self.ready.set_result(None)
            self.flush()

        def flush(self) -> None:
            self.flush_pending = False
            data = self.h2.data_to_send()
            if data and self.transport is not None:
                self.transport.write(data)

        async def post(self, token: str) -> int:
            stream_id = self.h2.get_next_available_stream_id()
            path = NeverIndexedHeaderTuple(b":path", b"/3/device/" + token.encode())
            self.h2.send_headers(stream_id, [*constant, path, *trailing])
            while self.h2.local_flow_control_window(stream_id) < 2:
                self.window.clear()
                await self.window.wait()
            self.h2.send_data(stream_id, b"{}", end_stream=True)
            waiter = self.waiters[stream_id] = loop.create_future()
            if not self.flush_pending:
                self.flush_pending = True
                loop.call_soon(self.flush)
            return await waiter

    async def connect() -> Http2:
        protocol = Http2()
        await loop.create_connection(
            lambda: protocol,
            config.host,
            config.port,
            ssl=build_ssl_context(config),
            server_hostname=config.host,
        )
        await protocol.ready
        return protocol

    connection = loop.run_until_complete(connect())

    async def one(token: str, gate: asyncio.Semaphore) -> bool:
        async with gate:
            return await connection.post(token) == 200

    async def many(batch: list[str]) -> int:
        limit = min(concurrency, connection.h2.remote_settings.max_concurrent_streams)
        gate = asyncio.Semaphore(limit)
        return sum(await asyncio.gather(*(one(t, gate) for t in batch)))

    return lambda batch: loop.run_until_complete(many(batch))


def pycurl_client(config: ApnsConfig, topic: str, concurrency: int) -> Send:
    """libcurl's HTTP/2 (nghttp2) multiplexing one connection through a CurlMulti: one
    reusable easy handle per stream in flight, the transfer loop in C."""
    import pycurl  # noqa: PLC0415 - only for this comparison

    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
    multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, 1)
    multi.setopt(pycurl.M_MAX_CONCURRENT_STREAMS, concurrency)
    base = f"https://{config.host}:{config.port}/3/device/"

    def handle() -> pycurl.Curl:
        curl = pycurl.Curl()
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_2TLS)
        curl.setopt(pycurl.PIPEWAIT, 1)  # wait to multiplex rather than open a connection
        curl.setopt(pycurl.SSLCERT, str(config.cert_file))
        curl.setopt(pycurl.SSLKEY, str(config.key_file))
        curl.setopt(pycurl.CAINFO, str(config.ca_file))
        # Only what APNs needs: no Accept, no form Content-Type, no User-Agent.
        curl.setopt(pycurl.HTTPHEADER, [f"apns-topic: {topic}", "Accept:", "Content-Type:"])
        curl.setopt(pycurl.POSTFIELDS, config.payload)
        curl.setopt(pycurl.WRITEFUNCTION, len)  # the body (empty or a reason) is dropped
        return curl

    idle = [handle() for _ in range(concurrency)]

    def run(batch: list[str]) -> int:
        waiting, running, delivered = list(reversed(batch)), 0, 0
        while waiting or running:
            while waiting and idle:
                curl = idle.pop()
                curl.setopt(pycurl.URL, base + waiting.pop())
                multi.add_handle(curl)
                running += 1
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            _, done, failed = multi.info_read()
            for curl in [*done, *(curl for curl, _, _ in failed)]:
                delivered += curl in done and curl.getinfo(pycurl.RESPONSE_CODE) == 200
                multi.remove_handle(curl)
                idle.append(curl)
                running -= 1
            if not done and not failed:
                multi.select(1.0)
        return delivered

    return run


ENGINES: dict[str, Callable[[ApnsConfig, str, int], Send]] = {
    "own": own_client,
    "h2": h2_client,
    "httpx": httpx_client,
    "pycurl": pycurl_client,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pushes", type=int, default=20000, help="pushes per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per engine")
    parser.add_argument(
        "--client", nargs="+", choices=sorted(ENGINES), default=["own"], help="engines"
    )
    parser.add_argument("--concurrency", type=int, default=1000, help="streams in flight")
    args = parser.parse_args()

    rates: dict[str, list[float]] = {name: [] for name in args.client}
    cpu: dict[str, list[float]] = {name: [] for name in args.client}
    with tempfile.TemporaryDirectory() as tmp:
        pki = generate_test_pki(tmp)
        with fake_server(pki) as port:
            config = ApnsConfig(
                host="127.0.0.1",
                port=port,
                cert_file=pki.client_cert,
                key_file=pki.client_key,
                ca_file=pki.server_ca,
                max_streams=args.concurrency,
            )
            engines = {}
            for name in args.client:
                engines[name] = ENGINES[name](config, pki.topic, args.concurrency)
                engines[name](tokens(200))  # warm-up: connect, TLS, HTTP/2 settings
            print(f"before: {load()} ({os.cpu_count()} cpus)")
            for run in range(1, args.runs + 1):
                for name, send in engines.items():
                    batch = tokens(args.pushes)
                    wall, proc = time.perf_counter(), time.process_time()
                    delivered = send(batch)
                    wall, proc = time.perf_counter() - wall, time.process_time() - proc
                    if delivered != len(batch):
                        raise SystemExit(f"{name} run {run}: {delivered}/{len(batch)} delivered")
                    rates[name].append(len(batch) / wall)
                    cpu[name].append(proc / len(batch) * 1e6)
                    print(
                        f"run {run} {name}: {rates[name][-1]:,.0f} pushes/s, "
                        f"{cpu[name][-1]:.1f} µs CPU/push ({load()})"
                    )
    for name in args.client:
        print(
            f"{name}: median {statistics.median(rates[name]):,.0f} pushes/s, "
            f"{statistics.median(cpu[name]):.1f} µs client CPU per push "
            f"({args.pushes} pushes x {args.runs} runs, concurrency {args.concurrency})"
        )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
