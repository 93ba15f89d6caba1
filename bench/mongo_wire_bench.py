"""Benchmark the dev MongoDB wire server through pymongo with pass-shaped documents.

    .venv/bin/python bench/mongo_wire_bench.py [--docs 100000] [--runs 5] [--in-process]

By default the server runs as a subprocess (`python -m dev.mongo_wire_server --port 0`),
as in local runs, so client and server do not share a GIL. Every figure is the median over runs
of the mean time per operation within a run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from dev.mongo_wire_server import MongoWireServer  # noqa: E402

LOOKUPS_PER_RUN = 200
BATCH = 500
SCANS_PER_RUN = 3


@contextmanager
def running_server(in_process: bool) -> Iterator[str]:
    if in_process:
        with MongoWireServer(port=0) as server:
            yield server.uri
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "dev.mongo_wire_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if "listening on" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.rsplit(" ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_pass(number: int) -> dict[str, Any]:
    return {
        "_id": uuid.uuid4().hex,
        "tenant": f"tenant-{number % 20}",
        "passType": f"pass.com.example.type{number % 5}",
        "identifiers": {"crm": f"crm-{number:08d}"},
        "metadata": {"store": f"store-{number % 1000}"},
        "authenticationToken": uuid.uuid4().hex + uuid.uuid4().hex,
        "createdAt": datetime.datetime.now(datetime.UTC),
    }


def load(collection: Collection[dict[str, Any]], count: int) -> tuple[list[dict[str, Any]], float]:
    documents = [make_pass(number) for number in range(count)]
    started = time.perf_counter()
    for start in range(0, count, 5000):
        collection.insert_many(documents[start : start + 5000])
    return documents, time.perf_counter() - started


def per_operation(repeat: int, operation: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for attempt in range(repeat):
        operation(attempt)
    return (time.perf_counter() - started) / repeat * 1000


def measure_run(
    collection: Collection[dict[str, Any]],
    picks: list[dict[str, Any]],
    batch_ids: list[str],
    run: int,
) -> dict[str, float]:
    return {
        "find_one by _id": per_operation(
            LOOKUPS_PER_RUN, lambda i: collection.find_one({"_id": picks[i]["_id"]})
        ),
        "find_one by identifiers.crm (indexed)": per_operation(
            LOOKUPS_PER_RUN,
            lambda i: collection.find_one({"identifiers.crm": picks[i]["identifiers"]["crm"]}),
        ),
        "find_one tenant + _id (implicit AND)": per_operation(
            LOOKUPS_PER_RUN,
            lambda i: collection.find_one({"tenant": picks[i]["tenant"], "_id": picks[i]["_id"]}),
        ),
        f"find _id $in {BATCH} ids (all docs)": per_operation(
            1, lambda _: list(collection.find({"_id": {"$in": batch_ids}}))
        ),
        f"bulk_write {BATCH} UpdateOne by _id $set": per_operation(
            1,
            lambda _: collection.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"metadata.run": run}}) for i in batch_ids]
            ),
        ),
        f"update_many _id $in {BATCH} $set": per_operation(
            1,
            lambda _: collection.update_many(
                {"_id": {"$in": batch_ids}}, {"$set": {"metadata.batch": run}}
            ),
        ),
        "find_one by authenticationToken (unindexed scan)": per_operation(
            SCANS_PER_RUN,
            lambda i: collection.find_one({"authenticationToken": picks[i]["authenticationToken"]}),
        ),
    }


def run_benchmark(uri: str, docs: int, runs: int) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    collection = client.bench.passes
    collection.drop()
    documents, load_seconds = load(collection, docs)
    started = time.perf_counter()
    collection.create_index("identifiers.crm")
    collection.create_index([("tenant", 1), ("passType", 1)])
    index_seconds = time.perf_counter() - started
    rng = random.Random(42)

    def sample(size: int) -> list[dict[str, Any]]:
        return rng.sample(documents, size)

    measurements: dict[str, list[float]] = {}
    for run in range(runs):
        picks = sample(LOOKUPS_PER_RUN)
        batch_ids = [document["_id"] for document in sample(BATCH)]
        for name, value in measure_run(collection, picks, batch_ids, run).items():
            measurements.setdefault(name, []).append(value)

    python = sys.version.split()[0]
    print(f"documents: {docs:,}   runs: {runs}   cores: {os.cpu_count()}   python {python}")
    rate = docs / load_seconds
    print(f"load (insert_many, chunks of 5000): {load_seconds:.2f} s ({rate:,.0f} docs/s)")
    print(f"create 2 indexes on loaded data: {index_seconds * 1000:.0f} ms")
    width = max(len(name) for name in measurements)
    print(f"{'operation'.ljust(width)}  median ms/op")
    print(f"{'-' * width}  ------------")
    for name, values in measurements.items():
        print(f"{name.ljust(width)}  {statistics.median(values):12.3f}")
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="run the server in this process")
    args = parser.parse_args()
    with running_server(args.in_process) as uri:
        run_benchmark(uri, args.docs, args.runs)


if __name__ == "__main__":
    main()
