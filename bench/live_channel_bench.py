"""What the live channel server holds and how fast it delivers (issue #13):

    .venv/bin/python bench/live_channel_bench.py [--idle 10000] [--fanout 1000] [--rounds 20]
        [--runs 3] [--redis-url URL]

Each run starts a real redis-server (unless --redis-url) and one live server process
(`python -m workers.live_server`), then, from this process (asyncio, websockets client):

1. opens --idle connections, each on its own pass with its own token, and reads the server's
   RSS before and after (`/proc/<pid>/status`, VmRSS) once they are all open and told
   `live.ready`: the memory per idle connection;
2. with those still open, opens --fanout more on one pass, then --rounds times publishes one
   event on it (PUBLISH, the event carrying its send time) and records when each socket
   receives it: p50 / p99 / max delay per round from PUBLISH to the socket, over the
   --fanout sockets;
3. the same with --fanout sockets on --fanout different passes, one PUBLISH per pass sent in
   one pipeline per round (the distinct-pass delay).

The delays include this process's own event loop reading 1,000 messages one after the other
(an upper bound on the server's part). Printed: each run's figures, then the median over runs.
The soft limit on open files is raised to the hard one here and in the server (each socket
is a file descriptor); --idle above that limit is cut to fit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
from websockets.asyncio.client import ClientConnection, connect

from dev.redis_server import server_command
from shared.links import link_secret
from shared.live.channels import channel, message
from shared.live.handshake import path_for
from shared.live.tokens import channel_key, issue
from tests.support.processes import ManagedProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
TENANT = "demo"
HANDSHAKES_AT_ONCE = 100


@dataclass
class RunFigures:
    idle: int
    rss_per_connection_kib: float
    fanout_p50_ms: float
    fanout_p99_ms: float
    fanout_max_ms: float
    distinct_p50_ms: float
    distinct_p99_ms: float
    distinct_max_ms: float


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextmanager
def running_redis(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    port = free_port()
    server = ManagedProcess(
        "bench-redis",
        server_command(port, tempfile.mkdtemp(prefix="passwire-bench-redis-")),
        dict(os.environ),
        r"Ready to accept connections",
    )
    server.start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()


@contextmanager
def running_live_server(redis_url: str, max_connections: int) -> Iterator[tuple[int, int]]:
    """(port, pid) of a live server process."""
    port = free_port()
    env = {
        **os.environ,
        "PASSWIRE_ENV": "test",  # the development link secret signs the tokens
        "REDIS_URL": redis_url,
        "PASSWIRE_LIVE_MAX_CONNECTIONS": str(max_connections),
        "LOG_LEVEL": "INFO",  # its ready line
    }
    env.pop("PASSWIRE_LINK_SECRET", None)
    command = [sys.executable, "-m", "workers.live_server", "--host", "127.0.0.1"]
    server = ManagedProcess("bench-live", [*command, "--port", str(port)], env, r"live: serving")
    server.start()
    try:
        assert server.process is not None
        yield port, server.process.pid
    finally:
        server.stop()


def url_for(port: int, key: bytes, pass_id: str) -> str:
    token = issue(key, TENANT, pass_id, expires_at=int(time.time()) + 3600)
    return f"ws://127.0.0.1:{port}{path_for(TENANT, pass_id)}?token={token}"


async def open_sockets(urls: list[str]) -> list[ClientConnection]:
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

    async def one(url: str) -> ClientConnection:
        async with gate:
            socket = await connect(url, compression=None, open_timeout=60, ping_interval=None)
            ready = json.loads(await socket.recv())
            assert ready == {"type": "live.ready"}, ready
            return socket

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def delays_ms(sockets: list[ClientConnection]) -> list[float]:
    """Each socket's delay from the event's send time to its arrival here."""

    async def one(socket: ClientConnection) -> float:
        text = await socket.recv()
        received = time.time_ns()
        sent = json.loads(text)["data"]["sentNs"]
        return (received - int(sent)) / 1e6

    return list(await asyncio.wait_for(asyncio.gather(*(one(s) for s in sockets)), 60))


def event(pass_id: str) -> str:
    now = datetime.now(UTC)
    return message("pass.updated", pass_id, {"sentNs": time.time_ns()}, at=now)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(redis_url: str, port: int, pid: int, args: argparse.Namespace) -> RunFigures:
    secret = link_secret(TENANT, is_local=True, configured="")
    assert secret is not None
    key = channel_key(secret)
    client = redis.Redis.from_url(redis_url)

    before = rss_kib(pid)
    idle = await open_sockets([url_for(port, key, f"idle{n:06d}") for n in range(args.idle)])
    await asyncio.sleep(2)  # let the server settle after the burst of handshakes
    after = rss_kib(pid)
    per_connection = (after - before) / max(1, len(idle))
    print(f"  {len(idle)} idle connections: server RSS {before} -> {after} KiB", flush=True)

    fan = await open_sockets([url_for(port, key, "fanout000000")] * args.fanout)
    fan_rounds: list[tuple[float, float, float]] = []
    for _ in range(args.rounds):
        waiting = asyncio.ensure_future(delays_ms(fan))
        await asyncio.sleep(0)  # every socket is reading before the event goes out
        client.publish(channel(TENANT, "fanout000000"), event("fanout000000"))
        values = await waiting
        fan_rounds.append((percentile(values, 0.5), percentile(values, 0.99), max(values)))
    for socket in fan:
        await socket.close()

    passes = [f"distinct{n:06d}" for n in range(args.fanout)]
    distinct = await open_sockets([url_for(port, key, pass_id) for pass_id in passes])
    distinct_rounds: list[tuple[float, float, float]] = []
    for _ in range(args.rounds):
        waiting = asyncio.ensure_future(delays_ms(distinct))
        await asyncio.sleep(0)
        pipeline = client.pipeline(transaction=False)
        for pass_id in passes:
            pipeline.publish(channel(TENANT, pass_id), event(pass_id))
        pipeline.execute()
        values = await waiting
        distinct_rounds.append((percentile(values, 0.5), percentile(values, 0.99), max(values)))
    for socket in [*distinct, *idle]:
        with suppress(Exception):
            await socket.close()
    client.close()

    def med(rounds: list[tuple[float, float, float]], index: int) -> float:
        return statistics.median(r[index] for r in rounds)

    return RunFigures(
        idle=len(idle),
        rss_per_connection_kib=per_connection,
        fanout_p50_ms=med(fan_rounds, 0),
        fanout_p99_ms=med(fan_rounds, 1),
        fanout_max_ms=med(fan_rounds, 2),
        distinct_p50_ms=med(distinct_rounds, 0),
        distinct_p99_ms=med(distinct_rounds, 1),
        distinct_max_ms=med(distinct_rounds, 2),
    )


def show(figures: RunFigures, label: str) -> None:
    print(
        f"{label}: {figures.idle} idle, {figures.rss_per_connection_kib:.1f} KiB RSS/connection; "
        f"fan-out to 1 pass p50 {figures.fanout_p50_ms:.1f} ms p99 {figures.fanout_p99_ms:.1f} "
        f"ms max {figures.fanout_max_ms:.1f} ms; distinct passes p50 "
        f"{figures.distinct_p50_ms:.1f} ms p99 {figures.distinct_p99_ms:.1f} ms max "
        f"{figures.distinct_max_ms:.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--fanout", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    limit = raise_open_files_limit()
    # This process holds every client socket: keep room for the rest of its files.
    if args.idle + 2 * args.fanout + 200 > limit:
        args.idle = max(0, limit - 2 * args.fanout - 200)
        print(f"open files limit {limit}: --idle cut to {args.idle}")
    print(
        f"live channel bench: {args.idle} idle, fan-out {args.fanout}, {args.rounds} rounds, "
        f"{args.runs} runs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    runs: list[RunFigures] = []
    with running_redis(args.redis_url) as redis_url:
        for run in range(1, args.runs + 1):
            total = args.idle + 2 * args.fanout + 100
            with running_live_server(redis_url, total) as (port, pid):
                figures = asyncio.run(measure(redis_url, port, pid, args))
            show(figures, f"run {run}")
            runs.append(figures)
    median = RunFigures(
        **{
            field: statistics.median(getattr(run, field) for run in runs)
            for field in RunFigures.__dataclass_fields__
        }
    )
    show(median, f"median of {len(runs)} runs")


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        main()
