"""Throughput and client CPU cost of Wallet pushes against the fake APNs server.

    .venv/bin/python bench/apns_bench.py --pushes 20000 --runs 3 [--client httpx]

The fake server runs in its own process, so ``time.process_time()`` here measures the
client alone (its event-loop thread included). Each run reuses the warm connection, as a
long-lived worker does; connection set-up is excluded. The fake server (Python, h2) is the
throughput bound; the load average printed with the result says how busy the machine was.
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


def own_client(config: ApnsConfig, topic: str) -> Callable[[list[str]], int]:
    client = ApnsClient(config)

    def run(batch: list[str]) -> int:
        results = client.send_pushes(topic, batch)
        return sum(r.outcome == "delivered" for r in results)

    return run


def httpx_client(config: ApnsConfig, topic: str, concurrency: int) -> Callable[[list[str]], int]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pushes", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--client", choices=["own", "httpx"], default="own")
    parser.add_argument("--concurrency", type=int, default=1000)
    args = parser.parse_args()

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
            if args.client == "own":
                send = own_client(config, pki.topic)
            else:
                send = httpx_client(config, pki.topic, args.concurrency)
            send(tokens(200))  # warm-up: connect, TLS, HTTP/2 settings
            print(f"before: {load()} ({os.cpu_count()} cpus)")
            rates, cpu = [], []
            for run in range(1, args.runs + 1):
                batch = tokens(args.pushes)
                wall, proc = time.perf_counter(), time.process_time()
                delivered = send(batch)
                wall, proc = time.perf_counter() - wall, time.process_time() - proc
                if delivered != len(batch):
                    raise SystemExit(f"run {run}: only {delivered}/{len(batch)} delivered")
                rates.append(len(batch) / wall)
                cpu.append(proc / len(batch) * 1e6)
                print(f"run {run}: {rates[-1]:,.0f} pushes/s, {cpu[-1]:.0f} µs CPU/push")
    print(
        f"{args.client}: median {statistics.median(rates):,.0f} pushes/s, "
        f"{statistics.median(cpu):.0f} µs client CPU per push "
        f"({args.pushes} pushes x {args.runs} runs, concurrency {args.concurrency}; "
        f"after: {load()})"
    )


if __name__ == "__main__":
    main()
