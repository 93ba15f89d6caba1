"""What resolving the active pass type versions costs a job (docs/passtypes.md).

    .venv/bin/python bench/passtype_resolve_bench.py [--jobs 2000] [--runs 5]

A worker resolves a tenant's active versions once per job: one indexed read of
`passtype_active` through pymongo (the dev MongoDB wire server here, as a subprocess), the
versions themselves coming from the process's cache by version id. Printed: the time per job
of that resolution, of a registry without stored versions (the files only) for comparison,
and the one-off cost of loading a version into a process (read, written out, checked,
compiled). Each figure is the median over runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from pymongo import MongoClient  # noqa: E402

from bench.mongo_wire_bench import running_server  # noqa: E402
from config.settings import CONFIG_DIR  # noqa: E402
from shared.infra.clock import utcnow  # noqa: E402
from shared.passtypes import versions  # noqa: E402
from shared.passtypes.active import StoredVersions  # noqa: E402
from shared.passtypes.archive import read_folder  # noqa: E402
from shared.repositories.indexes import ensure_indexes  # noqa: E402
from shared.tenancy.tenants import TenantRegistry, load_registry  # noqa: E402

TENANT = "demo"
NAME = "loyalty"


def per_job_us(registry: TenantRegistry, jobs: int) -> float:
    started = time.perf_counter()
    for _ in range(jobs):
        tenant = registry.pinned().get(TENANT)  # what job_context() gives each job
        assert tenant is not None and NAME in tenant.pass_types
    return (time.perf_counter() - started) / jobs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("PASSWIRE_DEV_CERTS_DIR", tempfile.mkdtemp())
    scratch = Path(tempfile.mkdtemp(prefix="passtype-bench-"))
    shutil.copytree(CONFIG_DIR / "tenants" / TENANT, scratch / TENANT)
    with running_server(in_process=False) as uri:
        db: Any = MongoClient(uri, tz_aware=True)["passtype_bench"]
        ensure_indexes(db)
        files_only = load_registry(scratch, include_local_only=True)
        base = files_only.tenants[TENANT]
        folder = read_folder(base.pass_types[NAME].directory)
        versions.put_version(db, base, base, NAME, folder, now=utcnow())  # v1 files, v2 upload
        versions.activate(db, base, NAME, 2, now=utcnow())
        loads, resolved, plain = [], [], []
        for _ in range(args.runs):
            stored = StoredVersions(lambda: db, ttl_s=0)
            registry = files_only.with_overlay(stored)
            started = time.perf_counter()
            registry.pinned().get(TENANT)  # the first job of a process loads the version
            loads.append((time.perf_counter() - started) * 1e3)
            resolved.append(per_job_us(registry, args.jobs))
            plain.append(per_job_us(files_only, args.jobs))
    print(f"jobs per run: {args.jobs}, runs: {args.runs} (medians)")
    figures = (
        ("active versions resolved per job (one MongoDB read)", resolved, "µs"),
        ("files only, no stored versions", plain, "µs"),
        ("first load of a version in a process", loads, "ms"),
    )
    for label, values, unit in figures:
        print(f"{label:<52} {statistics.median(values):8.1f} {unit}")


if __name__ == "__main__":
    main()
