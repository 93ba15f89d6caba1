"""Metrics as an operator sees them (issue #19): a real Prometheus scrapes the metrics server
(`python -m workers.metrics_server`) of a stack of real processes (gunicorn with two workers,
a Celery worker with two prefork children, the fake APNs and Google), while a campaign runs
with an APNs 410 and a Google 429 injected. Prometheus' HTTP API then shows the campaign's
passes, the 410 and the 429 with their labels, and counters that several processes wrote add
up: the per-process files in PROMETHEUS_MULTIPROC_DIR sum to what Prometheus reports.

The stack has a Redis database of its own (broker, limiters), so the session's worker never
takes its jobs; it shares the session's MongoDB database with the seeder.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict

from config.celery import QUEUES
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.campaigns import BATCH_TASK
from tests.conftest import DEMO_KEY
from tests.e2e.test_push_updates import start_campaign
from tests.support.api_client import ApiClient
from tests.support.apple import PASS_TYPE_IDENTIFIER
from tests.support.google import FakeGoogleProcess
from tests.support.processes import BIN_DIR, ManagedProcess, free_port, wait_until, worker_command
from tests.support.wallet_passes import WalletSeeder
from workers.metrics_server import SCRAPE_TIME_METRICS

ROOT = Path(__file__).resolve().parents[2]
PASSES = 60
BATCH_SIZE = 5  # 12 batches: both prefork children get some
OLD_POINTS, NEW_POINTS = 10, 20
SERIAL_TEMPLATE = "/apple/<tenantId>/v1/passes/<passTypeIdentifier>/<serialNumber>"


@dataclass
class MetricsStack:
    api: ApiClient
    api_url: str
    prometheus_url: str
    metrics_url: str
    metrics_dir: Path
    processes: list[ManagedProcess]

    def query(self, expression: str) -> dict[str, float]:
        """An instant query: each series' labels (as `k=v,...`, sorted) -> its value."""
        answer = requests.get(
            f"{self.prometheus_url}/api/v1/query", params={"query": expression}, timeout=10
        )
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        return {
            ",".join(f"{k}={v}" for k, v in sorted(item["metric"].items())): float(item["value"][1])
            for item in body["data"]["result"]
        }

    def scalar(self, expression: str) -> float | None:
        found = self.query(expression)
        return next(iter(found.values())) if found else None


def _own_redis_database(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/7"))


def _web_command(port: int) -> list[str]:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line[:4] == "web:")
    command = shlex.split(line.partition(":")[2])
    command[0] = str(BIN_DIR / "gunicorn")
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    command[command.index("--workers") + 1] = "2"
    return command


def _prometheus_config(directory: Path, metrics_port: int) -> Path:
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: passwire\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metrics_port}']\n"
    )
    return config


@pytest.fixture
def metrics_stack(
    stack_env: dict[str, str], tmp_path: Path, fake_google_server: FakeGoogleProcess
) -> Iterator[MetricsStack]:
    metrics_dir = tmp_path / "metrics"
    redis_url = _own_redis_database(stack_env["REDIS_URL"])
    env = {
        **stack_env,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "PASSWIRE_CAMPAIGN_BATCH_SIZE": str(BATCH_SIZE),
    }
    api_port, metrics_port, prometheus_port = free_port(), free_port(), free_port()
    started: list[ManagedProcess] = []
    try:
        # The metrics server first: it empties the directory before anything writes there.
        for process in (
            ManagedProcess(
                "metrics-server",
                [
                    str(BIN_DIR / "python"),
                    "-m",
                    "workers.metrics_server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(metrics_port),
                ],
                env,
                r"metrics: serving",
            ),
            ManagedProcess("metrics-web", _web_command(api_port), env, r"Booting worker"),
            ManagedProcess(
                "metrics-worker", worker_command(",".join(QUEUES), "metrics"), env, r"\bready\."
            ),
            ManagedProcess(
                "prometheus",
                [
                    "prometheus",
                    f"--config.file={_prometheus_config(tmp_path, metrics_port)}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                env,
                r"Server is ready to receive web requests",
            ),
        ):
            started.append(process.start())
        api_url = f"http://127.0.0.1:{api_port}"
        wait_until(lambda: _answers(f"{api_url}/healthz"), 30, what="gunicorn to answer")
        yield MetricsStack(
            ApiClient(api_url, "demo", DEMO_KEY),
            api_url,
            f"http://127.0.0.1:{prometheus_port}",
            f"http://127.0.0.1:{metrics_port}/metrics",
            metrics_dir,
            started,
        )
    finally:
        for process in reversed(started):
            process.stop()


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


def _per_process(metrics_dir: Path, sample: str, **labels: str) -> dict[str, float]:
    """A counter's value in each process's file: file name -> value (non-zero only)."""
    found: dict[str, float] = {}
    for path in glob.glob(os.path.join(metrics_dir, "counter_*.db")):
        for key, value, _, _ in MmapedDict.read_all_values_from_file(path):
            _, sample_name, key_labels, _ = json.loads(key)
            if sample_name == sample and labels.items() <= key_labels.items():
                found[Path(path).name] = found.get(Path(path).name, 0.0) + value
    return {name: value for name, value in found.items() if value}


def test_prometheus_sees_the_campaign_the_410_and_the_429_added_up_across_processes(  # noqa: PLR0917 - fixtures
    metrics_stack: MetricsStack,
    db: Any,
    settings: Any,
    fake_apns: FakeApnsControl,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
) -> None:
    stack = metrics_stack
    tag = secrets.token_hex(6)
    seeded = WalletSeeder(db, settings, fake_google_server).seed(tag, [OLD_POINTS] * PASSES)
    gone = seeded[0]
    fake_apns.configure(unregistered=[gone.push_token])  # APNs answers 410 for this device
    fake_google.fail_next("Object", status=429, count=1, method="PATCH")  # retried, then 200
    # Wallet devices asking for a pass without its token: counted by the route's template.
    for item in seeded[:3]:
        answer = requests.get(
            f"{stack.api_url}/apple/demo/v1/passes/{PASS_TYPE_IDENTIFIER}/{item.pass_id}",
            timeout=10,
        )
        assert answer.status_code == 401

    body = {
        "filter": {"passType": ["loyalty"], "metadata": {"campaign": [tag]}},
        "data": {"additionalData": {"points": NEW_POINTS}},
    }
    operation = stack.api.wait_for_final(start_campaign(stack.api, body), timeout=120)
    assert operation["status"] == "completed", operation
    assert operation["counters"]["apple"]["unregistered"] == 1

    batches = PASSES // BATCH_SIZE
    expected = {
        'sum(passwire_campaign_passes_total{tenant="demo"})': float(PASSES),
        'sum(passwire_campaign_passes_total{tenant="demo",outcome="succeeded"})': float(PASSES),
        "sum(passwire_apns_pushes_total{"
        f'tenant="demo",pass_type="{PASS_TYPE_IDENTIFIER}",outcome="unregister",status="410"'
        "})": 1.0,
        'sum(passwire_apns_pushes_total{tenant="demo",outcome="delivered",status="200"})': float(
            PASSES - 1
        ),
        'sum(passwire_google_requests_total{status="429"})': 1.0,
        f'sum(passwire_jobs_total{{task="{BATCH_TASK}",outcome="succeeded"}})': float(batches),
        f'sum(passwire_passkit_requests_total{{endpoint="{SERIAL_TEMPLATE}",status="401"}})': 3.0,
    }

    def scraped() -> bool:
        return all(stack.scalar(query) == value for query, value in expected.items())

    try:
        wait_until(scraped, 30, what="Prometheus to scrape the final values")
    except AssertionError:
        raise AssertionError({query: stack.scalar(query) for query in expected}) from None

    # The batches ran in both prefork children, and Prometheus shows their sum.
    per_process = _per_process(
        stack.metrics_dir, "passwire_jobs_total", task=BATCH_TASK, outcome="succeeded"
    )
    assert len(per_process) >= 2, per_process
    assert sum(per_process.values()) == batches
    # Likewise the two gunicorn workers' PassKit requests (3 requests; possibly one worker).
    assert (
        sum(
            _per_process(
                stack.metrics_dir, "passwire_passkit_requests_total", status="401"
            ).values()
        )
        == 3
    )

    # No label holds a serial number, a pass id or a push token.
    everything = stack.query('{__name__=~"passwire_.+"}')
    labels = " ".join(everything)
    for item in seeded:
        assert item.pass_id not in labels and item.push_token not in labels
    # Figures read at scrape time: every queue, and the demo certificate's days left.
    depths = stack.query("passwire_queue_depth")
    assert {key.rsplit("queue=", 1)[1] for key in depths} == set(QUEUES)
    days = stack.query(
        f'passwire_certificate_expiry_days{{tenant="demo",pass_type="{PASS_TYPE_IDENTIFIER}",'
        'certificate="pass_type"}'
    )
    assert len(days) == 1 and next(iter(days.values())) > 30
    assert stack.scalar('passwire_metrics_source_up{source="mongodb"}') == 1.0
    # Every scrape-time family is served (campaigns' only with samples while one runs).
    served = requests.get(stack.metrics_url, timeout=10).text
    for name in SCRAPE_TIME_METRICS:
        assert f"# TYPE {name} gauge" in served, name
