"""Connector calls under load (issue #17): a HubSpot workflow webhook, signed (v3), at a fixed
rate against the real API under gunicorn.

    .venv/bin/python bench/connector_load_bench.py [--rate 100] [--seconds 60] [--contacts 20]
        [--threads 32] [--direct] [--mongodb-uri URI] [--keep]

The stack of bench/campaign_bench.py (redis-server, the dev MongoDB wire server or
--mongodb-uri, the API under gunicorn with 2 workers, the Celery workers), the demo tenant's
connectors enabled with throwaway secrets. `--contacts` passes are issued first, one per
HubSpot contact id. Then an open-loop load: call i is due at start + i / rate, sent by a
bounded pool of `--threads` (a call due while every thread is busy waits: its latency counts
from when it was due, so a slow server shows up in the figures). Each call is HubSpot's
documented contact payload (tests/fixtures/connectors/) for one of the contacts, with a
fresh signature, and becomes a PATCH of that pass (an operation and a job). `--direct` sends
the same updates as `PATCH /api/demo/passes?id.crm=…` with the API key instead: the API's
own cost, to tell the connector's share apart.

Printed: calls sent, the achieved rate, status counts, p50/p99/max latency (ms).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign_bench as cb  # the stack

from shared.connectors.auth import (
    HUBSPOT_SIGNATURE_HEADER,
    HUBSPOT_TIMESTAMP_HEADER,
    hubspot_v3_signature,
)

FIXTURE = cb.ROOT / "tests" / "fixtures" / "connectors" / "hubspot-workflow-contact.json"
SECRET = "hubspot-bench-secret"
TIERS = ("gold", "silver", "bronze")
MAX_CALLS = 100_000  # rate x seconds is refused above this: the bench stays bounded


class ConnectorStack(cb.Stack):  # type: ignore[misc]
    def _start_api(self, port: int) -> None:
        # The secret the demo's hubspot connector reads, in the API's environment.
        self.env["HUBSPOT_CLIENT_SECRET"] = SECRET
        super()._start_api(port)


def _issue(api: str, contacts: int) -> list[int]:
    """One loyalty pass per contact id, each created (operation completed) before the load."""
    session = requests.Session()
    session.headers["X-API-Key"] = cb.API_KEY
    ids = [4_000_000 + n for n in range(contacts)]
    pending = []
    for vid in ids:
        response = session.post(
            f"{api}/api/{cb.TENANT}/passes",
            params={"passType": "loyalty"},
            json={"identifiers": {"crm": str(vid)}, "metadata": {"tier": "bronze"}},
            timeout=30,
        )
        response.raise_for_status()
        pending.append(response.json()["correlationId"])
    deadline = time.monotonic() + 120
    for correlation_id in pending:
        while True:
            url = f"{api}/api/{cb.TENANT}/operations/{correlation_id}"
            if session.get(url, timeout=30).json()["status"] in cb.FINAL:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("seeding passes did not finish")
            time.sleep(0.1)
    return ids


def _load(api: str, public_url: str, ids: list[int], args: argparse.Namespace) -> dict[str, Any]:
    fixture = FIXTURE.read_text()
    path = f"/connect/{cb.TENANT}/hubspot"
    uri = public_url.rstrip("/") + path  # what HubSpot signs: the URL it calls
    local = threading.local()
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    total = int(args.rate * args.seconds)

    def call(index: int, due: float) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        contact = json.loads(fixture)
        contact["vid"] = ids[index % len(ids)]
        contact["properties"]["membership_tier"]["value"] = TIERS[index % len(TIERS)]
        body = json.dumps(contact).encode()
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            HUBSPOT_TIMESTAMP_HEADER: timestamp,
            HUBSPOT_SIGNATURE_HEADER: hubspot_v3_signature(SECRET, "POST", uri, body, timestamp),
        }
        try:
            status = str(
                session.post(api + path, data=body, headers=headers, timeout=30).status_code
            )
        except requests.RequestException as exc:
            status = type(exc).__name__
        elapsed = time.perf_counter() - due
        with lock:
            statuses[status] += 1
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        for index in range(total):
            due = started + index / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(call, index, due)
    wall = time.perf_counter() - started
    latencies.sort()
    return {"sent": total, "wall": wall, "statuses": statuses, "latencies": latencies}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long")
    parser.add_argument("--contacts", type=int, default=20, help="passes the calls update")
    parser.add_argument("--threads", type=int, default=32, help="concurrent calls at most")
    parser.add_argument(
        "--direct", action="store_true", help="send the same updates as PATCH /passes instead"
    )
    parser.add_argument("--mongodb-uri", help="a real MongoDB (a fresh database, dropped after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    if not 0 < args.rate * args.seconds <= MAX_CALLS or not 1 <= args.threads <= 256:
        parser.error(f"rate x seconds must be 1 to {MAX_CALLS:,}; threads 1 to 256")
    # What campaign_bench.Stack reads from its arguments.
    args.provider, args.profile_passes, args.interval, args.runs = "none", 0, 0.2, 1
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(cb.machine_line())
    workdir = Path(tempfile.mkdtemp(prefix="passwire-connector-bench-"))
    stack = ConnectorStack(workdir, args, 10)
    try:
        stack.start()
        ids = _issue(stack.urls.api, args.contacts)
        print(
            f"issued {len(ids)} passes; loading {args.rate:g}/s for {args.seconds:g} s", flush=True
        )
        result = _load(stack.urls.api, stack.urls.api, ids, args)
    except Exception:
        for child in stack.children:
            print(f"--- {child.role} log tail:\n{stack.tail(child.role, 15)}", file=sys.stderr)
        raise
    finally:
        stack.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    latencies = result["latencies"]
    counts = ", ".join(f"{status}: {n:,}" for status, n in sorted(result["statuses"].items()))
    print(
        f"{result['sent']:,} calls in {result['wall']:.1f} s "
        f"({result['sent'] / result['wall']:.1f}/s achieved); statuses {counts}"
    )
    print(
        f"latency from due time: p50 {cb.percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {cb.percentile(latencies, 0.99) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
