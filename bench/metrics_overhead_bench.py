"""What the Prometheus metrics cost a campaign (issue #19): the same campaign with metrics on
and off, alternating, on one stack.

    .venv/bin/python bench/metrics_overhead_bench.py [--size 5000] [--runs 3] [--google]
        [--interval 0.2] [--scrape-every 5] [--mongodb-uri URI] [--keep]

The stack is bench/campaign_bench.py's (its helpers are imported: a real redis-server, the dev
MongoDB wire server, the fake APNs, Google and CRM, the API under gunicorn and one Celery
worker per queue). Before each run the API and the workers are restarted: with
PROMETHEUS_MULTIPROC_DIR set (metrics on: every count goes to the processes' memory-mapped
files, and the metrics server runs and is scraped every --scrape-every seconds, as Prometheus
would) or without it (metrics off: nothing is written, no metrics server). Each restart is
followed by campaign_bench's unmeasured warm-up. Runs alternate off, on, off, on, ... so drift
of the machine (other jobs on it) spreads over both. Printed: each run's passes/s end to end,
then the median of each mode and their difference.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from bench.campaign_bench import (
    BIN,
    CONCURRENCY,
    INTERACTIVE_PASSES,
    STARTUP_TIMEOUT_S,
    TIERS,
    WARMUP_PASSES,
    Stack,
    _signal_session,
    free_port,
    machine_line,
    run_campaign,
    seed,
    warm_up,
)


def _stop_front(stack: Stack) -> None:
    """Stop the API, the workers and the metrics server (the rest of the stack stays)."""
    front = [c for c in stack.children if c.role.startswith(("api", "worker", "metrics"))]
    for child in front:
        _signal_session(child.process, signal.SIGTERM)
    for child in front:
        try:
            child.process.wait(20)
        except subprocess.TimeoutExpired:
            _signal_session(child.process, signal.SIGKILL)
            child.process.wait(10)
        _signal_session(child.process, signal.SIGKILL)  # prefork children left behind
    stack.children[:] = [c for c in stack.children if c not in front]


def _start_front(stack: Stack, metrics_dir: Path | None, metrics_port: int) -> None:
    if metrics_dir is None:
        stack.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    else:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        stack.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        command = [
            sys.executable, "-m", "workers.metrics_server", "--host", "127.0.0.1",
            "--port", str(metrics_port),
        ]  # fmt: skip
        stack._spawn("metrics", command, r"metrics: serving")
    port = urlsplit(stack.urls.api).port
    assert port is not None
    stack._start_api(port)
    for queue, concurrency in CONCURRENCY.items():
        command = [
            str(BIN / "celery"), "-A", "workers.celery_app", "worker", "-Q", queue,
            "--concurrency", str(concurrency), "-n", f"{queue}@%h", "--loglevel", "INFO",
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        stack._spawn(f"worker-{queue}", command, r"\bready\.", timeout=STARTUP_TIMEOUT_S)


@contextmanager
def scraping(url: str | None, every_s: float) -> Iterator[list[str]]:
    """Scrape `url` every `every_s` seconds while the block runs; yields the last page."""
    last: list[str] = [""]
    stop = threading.Event()

    def loop() -> None:
        while url is not None and not stop.wait(every_s):
            with suppress(requests.RequestException):
                last[0] = requests.get(url, timeout=10).text

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield last
    finally:
        stop.set()
        thread.join()
        if url is not None:
            last[0] = requests.get(url, timeout=10).text


def _campaign_passes(page: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in page.splitlines()
        if line.startswith("passwire_campaign_passes_total{")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=5000, help="passes in the campaign")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (at least 3)")
    parser.add_argument("--google", action="store_true", help="passes on Google Wallet too")
    parser.add_argument("--interval", type=float, default=0.2, help="s between single PATCHes")
    parser.add_argument("--scrape-every", type=float, default=5.0, help="s between scrapes")
    parser.add_argument("--mongodb-uri", help="a real MongoDB (a fresh database, dropped after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()
    args.profile_passes = 0  # campaign_bench's Stack and seed read it
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(machine_line())
    workdir = Path(tempfile.mkdtemp(prefix="passwire-metrics-bench-"))
    stack = Stack(workdir, args, args.size + INTERACTIVE_PASSES + WARMUP_PASSES)
    metrics_port = free_port()
    rates: dict[str, list[float]] = {"off": [], "on": []}
    try:
        stack.start()
        seeded = seed(stack, args.size, args.google, 0)
        print(f"stack up, {args.size:,} passes seeded ({workdir})", flush=True)
        for index in range(2 * args.runs):
            mode = ("off", "on")[index % 2]
            _stop_front(stack)
            _start_front(stack, workdir / "metrics" if mode == "on" else None, metrics_port)
            warm_up(stack, seeded)
            url = f"http://127.0.0.1:{metrics_port}/metrics" if mode == "on" else None
            with scraping(url, args.scrape_every) as page:
                result = run_campaign(stack, args, TIERS[index % 2], seeded)
            counted = ""
            if url is not None:  # what Prometheus would see, the warm-up's passes included
                counted = f", metrics: {_campaign_passes(page[0]):,.0f} campaign passes"
            assert result.operation["counters"]["processed"] == args.size, result.operation
            rates[mode].append(result.rate)
            print(
                f"  run {index + 1} metrics {mode:3}: {result.wall_s:6.1f} s, "
                f"{result.rate:7,.0f} passes/s{counted}",
                flush=True,
            )
    finally:
        stack.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    wallets = "Apple + Google" if args.google else "Apple"
    print(
        f"\nN = {args.size:,} ({wallets}), {args.runs} runs each, median passes/s: "
        f"metrics off {off:,.0f}, metrics on {on:,.0f} ({(on - off) / off:+.1%}); "
        f"spread off {min(rates['off']):,.0f}-{max(rates['off']):,.0f}, "
        f"on {min(rates['on']):,.0f}-{max(rates['on']):,.0f}"
    )


if __name__ == "__main__":
    main()
