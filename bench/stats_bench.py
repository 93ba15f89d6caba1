"""What `GET /passes/stats` costs as a tenant's passes grow, against counting them.

    .venv/bin/python bench/stats_bench.py [--sizes 1000 10000 50000] [--reads 200]

The dev MongoDB wire server runs as a subprocess (as in local runs). For each size N, N pass
documents of one tenant are inserted (a third in Apple Wallet, a fifth in Google Wallet) with
the counters the write path keeps (shared/stats/). Printed per N: the mean time of the read
`GET /passes/stats` does (shared/stats/reading.population: the tenant's counters documents),
and of the count over the passes collection that the reconcile sweep does (four
count_documents per pass type), which a stats endpoint without counters would do per request.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mongo_wire_bench import running_server  # the server as a subprocess

from shared.infra.clock import utcnow
from shared.repositories import stats as stats_repo
from shared.stats import reading

TENANT, PASS_TYPE = "bench", "loyalty"
BATCH = 1000


def _seed(db: Any, count: int) -> None:
    now = utcnow()
    installed = {"installedAt": now}
    totals = dict.fromkeys(stats_repo.COUNTER_FIELDS, 0)
    for start in range(0, count, BATCH):
        chunk = []
        for number in range(start, min(start + BATCH, count)):
            apple, google = number % 3 == 0, number % 5 == 0
            providers = {
                "apple": installed if apple else None,
                "google": installed if google else None,
            }
            chunk.append(
                {
                    "_id": f"P{number:09d}",
                    "tenant": TENANT,
                    "passType": PASS_TYPE,
                    "providers": providers,
                }
            )
            totals["total"] += 1
            totals["apple"] += apple
            totals["google"] += google
            totals["active"] += apple or google
        db.passes.insert_many(chunk)
    stats_repo.add_to_counters(db, TENANT, PASS_TYPE, totals, now)


def _mean_ms(repeat: int, call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - started) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--reads", type=int, default=200)
    arguments = parser.parse_args()
    print(f"{'passes':>8} {'stats read (counters)':>22} {'count over passes':>18}")
    with running_server(in_process=False) as uri:
        client: MongoClient[dict[str, Any]] = MongoClient(uri)
        for size in arguments.sizes:
            db = client[f"stats_bench_{size}"]
            _seed(db, size)
            counted = stats_repo.population_of(db, TENANT, PASS_TYPE)
            assert reading.population(db, TENANT, None) == counted  # the counters are exact
            read_ms = _mean_ms(arguments.reads, lambda db=db: reading.population(db, TENANT, None))
            scan_ms = _mean_ms(3, lambda db=db: stats_repo.population_of(db, TENANT, PASS_TYPE))
            print(f"{size:>8} {read_ms:>19.2f} ms {scan_ms:>15.1f} ms")
            client.drop_database(db.name)


if __name__ == "__main__":
    main()
