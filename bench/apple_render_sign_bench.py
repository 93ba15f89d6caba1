"""Apple pass render+sign throughput per core, on the path the create/update jobs run.

    .venv/bin/python bench/apple_render_sign_bench.py --passes 3000 --runs 5 [--processes 2]

The demo pass type is loaded as the app loads it (`load_registry(config/tenants)`, with
throwaway RSA-2048 signing material generated into PASSWIRE_DEV_CERTS_DIR first), and N pass
documents are built like the create job builds them (shared/passes/documents.py), with varying
identifiers, metadata and additionalData.points. Stages, each timed per run over all N passes:

- render: `issuing.render` (render context, template render, JSON parse, pass.json checks,
  owned keys, compact serialisation, content hash), as shared/passes/apple_versions.py calls it;
  for a prechecked template (shared/apple/passtype.py) only the outputs are evaluated (by the
  functions they were compiled to at load, shared/apple/template_compiler.py), checked and
  written into the pass.json serialised at load time;
- sign: `issuing.sign` (SHA-1 of pass.json, manifest, PKCS#7 detached signature);
- render+sign: both, what a job does per pass (the zip is not built in the job);
- assemble: `assemble_pkpass` from the stored signed parts, what serving a .pkpass costs;
- full build: render+sign+assemble;
- --messages N: every pass carries N messages (shared/passes/messages.py), so it is rendered
  with its message fields and signed with its own pass.strings (shared/apple/messages.py);
  without it, passes carry none and take the fast path;
- RSA floor: cryptography's raw RSA-2048 PKCS#1 v1.5 SHA-256 signature of 32 bytes (what
  `openssl speed rsa2048` measures): one of these per pass is the least signing can cost.

It ends with the CPU µs per pass of render, sign, render+sign and the floor, the job's
cost above the floor split into sign's own extra work, render, and what alternating render
and RSA costs beyond the two run apart (colder caches and predictors for each), and the
render+sign rate as a share of the floor's (issue #15 target: at least 85 %), per run (job
and floor of one run run moments apart) and as the median of the runs.

Single process, so rates are per core; --processes N then runs the render+sign stage in N
forked processes at once and prints passes/s for the whole machine. Rates use CPU time
(time.process_time) and wall time; the median over --runs is printed. --profile prints where
render+sign time goes (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import multiprocessing
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cryptography
import liquid
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dev/ is not installed

from config.settings import CONFIG_DIR, Settings
from dev import testing_certs
from shared.apple import issuing
from shared.apple.package import SignedPass, assemble_pkpass
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.passes.documents import new_pass_document
from shared.tenancy.tenants import PassType, Tenant, load_registry

TENANT_ID = "demo"
PASS_TYPE_ID = "loyalty"
JOB = "render+sign (job)"
FLOOR = "RSA-2048 sign (floor)"
STORES = ("Rue Neuve 5", "Gare du Nord", 'Place "Flagey"', "Sablon ☕", "Ixelles")
TIERS = ("Bean", "Silver", "Gold")


def load_demo(certs_dir: Path) -> tuple[Tenant, PassType]:
    """The demo tenant and pass type, loaded exactly as the API and workers load them."""
    testing_certs.write_pem_files(testing_certs.generate_material(), certs_dir)
    os.environ["PASSWIRE_DEV_CERTS_DIR"] = str(certs_dir)
    registry = load_registry(CONFIG_DIR / "tenants", include_local_only=True)
    tenant = registry.get(TENANT_ID)
    assert tenant is not None, "demo tenant missing from config/tenants"
    pass_type = tenant.pass_types[PASS_TYPE_ID]
    assert pass_type.apple is not None and pass_type.apple_pass_type_identifier is not None
    tenant.apple_identities.get(pass_type.apple_pass_type_identifier)  # key parsed once, here
    return tenant, pass_type


def make_documents(count: int, seed: int, messages: int = 0) -> list[dict[str, Any]]:
    """Pass documents as the create job stores them; optional data present on most passes;
    `messages` messages on each (newest first, as campaign batches record them)."""
    rng = random.Random(seed)
    documents = []
    for index in range(count):
        metadata: dict[str, Any] = {}
        if rng.random() < 0.9:
            metadata["store"] = rng.choice(STORES)
        if rng.random() < 0.7:
            metadata["tier"] = rng.choice(TIERS)
        additional = {"points": rng.randrange(5000)} if rng.random() < 0.95 else {}
        identifiers = {"crm": f"C-{index:07d}"} if rng.random() < 0.8 else {}
        documents.append(
            new_pass_document(
                pass_id=new_pass_id(),
                tenant_id=TENANT_ID,
                pass_type=PASS_TYPE_ID,
                identifiers=identifiers,
                metadata=metadata,
                additional_data=additional,
                correlation_id=f"{index:032x}",
                now=utcnow(),
            )
        )
        documents[-1]["messages"] = [
            {
                "id": f"op-{index}-{number}",
                "content": f"Double points on your next visit ({number})",
                "localizedContent": {"fr": f"Points doublés à votre prochaine visite ({number})"},
                "at": utcnow(),
                "alert": True,
            }
            for number in range(messages, 0, -1)
        ]
        if not messages:
            del documents[-1]["messages"]
    return documents


class Timing:
    """CPU and wall seconds of each run of a stage."""

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def measure(self, fn: Callable[[], object]) -> None:
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)


def report(label: str, timing: Timing, count: int) -> float:
    """Print the median rate of a stage; returns the median CPU µs per pass."""
    cpu, wall = statistics.median(timing.cpu), statistics.median(timing.wall)
    spread = f"{min(timing.cpu) / count * 1e6:.0f}-{max(timing.cpu) / count * 1e6:.0f}"
    print(
        f"  {label:24} {count / cpu:8.0f} /s/core CPU {cpu / count * 1e6:8.1f} µs "
        f"(runs {spread:>9} µs)   wall {count / wall:8.0f} /s {wall / count * 1e6:8.1f} µs"
    )
    return cpu / count * 1e6


def machine() -> None:
    load1, load5, load15 = os.getloadavg()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__} "
        f"({openssl_backend.openssl_version_text()}), "
        f"python-liquid {liquid.__version__}"
    )
    print(f"machine: {model}; {os.cpu_count()} CPUs ({usable} usable by this process)")
    print(f"load average: {load1:.2f} {load5:.2f} {load15:.2f} (1/5/15 min)")
    print("single process: every rate below is per core\n")


def build_stages(
    tenant: Tenant, pass_type: PassType, documents: list[dict[str, Any]]
) -> dict[str, Callable[[], object]]:
    """One callable per stage, each processing every document once."""
    assert pass_type.apple is not None
    assets = pass_type.apple.assets
    key = tenant.apple_identities.get(pass_type.apple_pass_type_identifier or "").private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    web_service_url = Settings().apple_web_service_url(tenant.id)
    now: datetime = utcnow()

    def render_one(document: dict[str, Any]) -> issuing.AppleRendition:
        rendition = issuing.render(
            tenant, pass_type, document, web_service_url=web_service_url, external={}, now=now
        )
        assert rendition is not None
        return rendition

    renditions = [render_one(document) for document in documents]
    signed_parts = [issuing.sign(tenant, pass_type, rendition) for rendition in renditions]
    prechecked = getattr(pass_type.apple, "prechecked", None) is not None
    first_assets = pass_type.apple.assets_for(bool(signed_parts[0].extra_files))
    print(
        f"demo pass type {tenant.id}/{PASS_TYPE_ID} (template prechecked: {prechecked}): "
        f"{len(assets.digests)} asset files, "
        f"{len(signed_parts[0].extra_files)} own strings files per pass, "
        f"pass.json {statistics.median(len(r.pass_json) for r in renditions):.0f} B (median), "
        f"signature {len(signed_parts[0].signature)} B, "
        f".pkpass {len(assemble_pkpass(first_assets, signed_parts[0])) / 1024:.1f} KiB"
    )
    digest = b"\x5a" * 32

    def render_all() -> None:
        for document in documents:
            render_one(document)

    def sign_all() -> None:
        for rendition in renditions:
            issuing.sign(tenant, pass_type, rendition)

    def render_sign_all() -> list[SignedPass]:
        return [issuing.sign(tenant, pass_type, render_one(document)) for document in documents]

    apple = pass_type.apple

    def assemble_all() -> None:
        for signed in signed_parts:
            assemble_pkpass(apple.assets_for(bool(signed.extra_files)), signed)

    def build_all() -> None:
        for document in documents:
            signed = issuing.sign(tenant, pass_type, render_one(document))
            assemble_pkpass(apple.assets_for(bool(signed.extra_files)), signed)

    def rsa_all() -> None:
        for _ in documents:
            key.sign(digest, padding.PKCS1v15(), hashes.SHA256())

    return {
        "render": render_all,
        "sign": sign_all,
        JOB: render_sign_all,
        "assemble (serving)": assemble_all,
        "full build": build_all,
        FLOOR: rsa_all,
    }


def machine_wide(job: Callable[[], object], processes: int, runs: int, count: int) -> None:
    """`processes` forked copies of this process each render+sign the `count` passes at once
    (as worker processes would): passes/s of the whole machine, wall clock, median of runs."""
    context = multiprocessing.get_context("fork")
    rates = []
    for _ in range(runs):
        children = [context.Process(target=job) for _ in range(processes)]
        started = time.perf_counter()
        for child in children:
            child.start()
        for child in children:
            child.join()
        rates.append(processes * count / (time.perf_counter() - started))
    print(
        f"render+sign in {processes} processes at once: {statistics.median(rates):.0f} passes/s "
        f"for the machine (median of {runs}; runs {min(rates):.0f}-{max(rates):.0f})"
    )


def profile(fn: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--passes", type=int, default=3000, help="passes per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--messages", type=int, default=0, help="messages each pass carries (default none)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one render+sign run")
    parser.add_argument(
        "--processes", type=int, default=0, help="then render+sign in N processes at once"
    )
    args = parser.parse_args(argv)
    count = args.passes
    machine()

    with tempfile.TemporaryDirectory(prefix="passwire-bench-certs-") as certs:
        tenant, pass_type = load_demo(Path(certs))
    stages = build_stages(tenant, pass_type, make_documents(count, args.seed, args.messages))
    stages[JOB]()  # warm-up
    timings = {label: Timing() for label in stages}
    for run in range(1, args.runs + 1):
        # Stages interleave, so a change of machine load touches them all alike.
        for label, fn in stages.items():
            timings[label].measure(fn)
        seconds = timings[JOB].cpu[-1]
        print(f"run {run}/{args.runs}: render+sign {count} passes in {seconds:.3f} s CPU")

    print(f"\nmedians over {args.runs} runs of {count} passes:")
    micros = {label: report(label, timing, count) for label, timing in timings.items()}
    floor, job = micros[FLOOR], micros[JOB]
    print(
        f"\nrender+sign: {job:.1f} µs/pass = RSA floor {floor:.1f} µs + {job - floor:.1f} µs "
        f"of everything else ({(job - floor) / job:.0%}); one RSA-2048 signature per pass caps "
        f"one core of this machine at {1e6 / floor:.0f} passes/s"
    )
    print(
        f"CPU µs/pass: render {micros['render']:.1f}, sign {micros['sign']:.1f}, "
        f"render+sign {job:.1f}, RSA floor {floor:.1f}"
    )
    # Each stage alone runs with warm caches; a job alternates Python work and RSA, which
    # costs more than the two apart (measured: even a pure-Python loop between signatures).
    print(
        f"of which: sign above the floor {micros['sign'] - floor:.1f} µs, render "
        f"{micros['render']:.1f} µs, alternating the two "
        f"{job - micros['sign'] - micros['render']:.1f} µs"
    )
    # Job and floor of the same run ran moments apart: their ratio is the least disturbed
    # by a change of machine load between runs.
    ratios = [f / j for f, j in zip(timings[FLOOR].cpu, timings[JOB].cpu, strict=True)]
    print(
        f"render+sign rate ÷ RSA floor rate per core: {statistics.median(ratios):.1%} "
        f"(median of {args.runs} runs' ratios; runs {min(ratios):.1%}-{max(ratios):.1%}; "
        f"ratio of the medians {floor / job:.1%})"
    )
    if args.processes > 0:
        machine_wide(stages[JOB], args.processes, args.runs, count)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.profile:
        profile(stages[JOB])


if __name__ == "__main__":
    main()
