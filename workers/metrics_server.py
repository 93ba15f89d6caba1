"""The metrics endpoint, on a port of its own (never on the public API):

    python -m workers.metrics_server [--host 0.0.0.0] [--port $PASSWIRE_METRICS_PORT]

Serves `/metrics` for Prometheus: the counters every API and worker process writes to
PROMETHEUS_MULTIPROC_DIR (shared/infra/metrics.py), added up across processes, plus figures
read at scrape time: queue depth and the oldest message's age per queue (Redis), running
campaigns and the passes they have left (MongoDB), and the days until each pass type
certificate expires (the tenants' configuration). Google service account keys carry no
expiry date, so none is reported for them.

At start it empties the directory, as prometheus_client requires between runs, unless a
process still writes there (a restart of this server alone keeps the live values). Without
PROMETHEUS_MULTIPROC_DIR the processes count nothing, and only the scrape-time figures are
served.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

from cryptography import x509
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config.celery import QUEUES
from config.settings import Settings, load_settings
from shared import operations
from shared.apple.certificates import SigningMaterialError
from shared.campaigns import PUSH_UPDATE
from shared.infra import metrics
from shared.infra.db import get_database
from shared.infra.logs import configure_logging
from shared.infra.redis_clients import process_client
from shared.repositories import campaigns as campaigns_repo
from shared.tenancy.tenants import TenantRegistry, load_registry

log = logging.getLogger(__name__)

# kombu's Redis transport keeps one list per priority step: `queue`, then `queue\x06\x16<n>`.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
# What the metrics server reads at scrape time (the rest: shared/infra/metrics.py).
SCRAPE_TIME_METRICS = (
    "passwire_queue_depth",
    "passwire_queue_oldest_age_seconds",
    "passwire_campaigns_running",
    "passwire_campaign_passes_remaining",
    "passwire_certificate_expiry_days",
    "passwire_metrics_source_up",
)
# Tenants are read again this often: a rotated certificate shows its new expiry.
TENANTS_TTL_S = 60.0


def queue_lists(queue: str) -> list[str]:
    return [queue, *(f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS)]


def sent_at(raw: bytes | str | None) -> float | None:
    """When a queued Celery message was published (its `passwire_sent_at` header), if known."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)["headers"][metrics.SENT_AT_HEADER]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def days_left(certificate: x509.Certificate, now: datetime) -> float:
    return (certificate.not_valid_after_utc - now).total_seconds() / 86400


def certificate_days(
    registry: TenantRegistry, now: datetime
) -> Iterator[tuple[str, str, str, float]]:
    """(tenant, pass type identifier, `pass_type` or `wwdr`, days left) for every Apple
    certificate the tenants configure; an unreadable one is reported by /readyz instead."""
    for tenant in registry.tenants.values():
        identifiers = {t.apple_pass_type_identifier for t in tenant.pass_types.values()}
        for identifier in sorted(filter(None, identifiers)):
            try:
                identity = tenant.apple_identities.get(identifier)
            except SigningMaterialError:
                continue
            for which, certificate in (
                ("pass_type", identity.certificate),
                ("wwdr", identity.wwdr_certificate),
            ):
                yield tenant.id, identifier, which, days_left(certificate, now)


class StateCollector(Collector):
    """Figures read from Redis, MongoDB and the tenants' configuration when scraped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tenants: tuple[float, TenantRegistry] | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "passwire_metrics_source_up",
            "Whether the metrics server could read a source at this scrape (1) or not (0)",
            labels=["source"],
        )
        for source, read in (
            ("redis", self._queues),
            ("mongodb", self._campaigns),
            ("tenants", self._certificates),
        ):
            try:
                families = list(read())
            except Exception as exc:  # a scrape reports what it can, never fails whole
                log.warning("metrics: %s unreadable: %s", source, type(exc).__name__)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "passwire_queue_depth", "Jobs waiting in a Celery queue", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "passwire_queue_oldest_age_seconds",
            "Seconds the oldest waiting job of a queue has waited (0: none waiting)",
            labels=["queue"],
        )
        client = process_client(self.settings.broker_url)
        now = time.time()
        for queue in QUEUES:
            pipe = client.pipeline(transaction=False)
            for name in queue_lists(queue):
                pipe.llen(name)
                pipe.lindex(name, -1)  # kombu pushes on the left: the oldest is the last
            answers = pipe.execute()
            lengths, oldest = answers[0::2], answers[1::2]
            times = [stamp for stamp in map(sent_at, oldest) if stamp is not None]
            depth.add_metric([queue], sum(lengths))
            age.add_metric([queue], max(now - min(times), 0.0) if times else 0.0)
        yield depth
        yield age

    def _campaigns(self) -> Iterator[Metric]:
        running = GaugeMetricFamily(
            "passwire_campaigns_running", "Campaigns running, by tenant", labels=["tenant"]
        )
        remaining = GaugeMetricFamily(
            "passwire_campaign_passes_remaining",
            "Passes the running campaigns have left to process, by tenant",
            labels=["tenant"],
        )
        found = campaigns_repo.active_campaigns(
            get_database(self.settings), kind=PUSH_UPDATE, statuses=(operations.RUNNING,)
        )
        count: dict[str, int] = defaultdict(int)
        left: dict[str, int] = defaultdict(int)
        for campaign in found:
            counters = campaign.get("counters") or {}
            count[campaign["tenant"]] += 1
            left[campaign["tenant"]] += max(
                int(counters.get("total", 0)) - int(counters.get("processed", 0)), 0
            )
        for tenant in sorted(count):
            running.add_metric([tenant], count[tenant])
            remaining.add_metric([tenant], left[tenant])
        yield running
        yield remaining

    def _certificates(self) -> Iterator[Metric]:
        days = GaugeMetricFamily(
            "passwire_certificate_expiry_days",
            "Days until an Apple certificate expires (pass type certificate or its WWDR)",
            labels=["tenant", "pass_type", "certificate"],
        )
        now = datetime.now(UTC)
        for tenant, identifier, which, left in certificate_days(self._registry(), now):
            days.add_metric([tenant, identifier, which], left)
        yield days

    def _registry(self) -> TenantRegistry:
        with self._lock:
            if self._tenants is None or time.monotonic() - self._tenants[0] > TENANTS_TTL_S:
                registry = load_registry(
                    self.settings.tenants_dir, include_local_only=self.settings.is_local
                )
                self._tenants = (time.monotonic(), registry)
            return self._tenants[1]


def build_registry(settings: Settings, directory: str | None) -> CollectorRegistry:
    registry = CollectorRegistry()
    if directory is not None:
        MultiProcessCollector(registry, path=directory)
    registry.register(StateCollector(settings))
    return registry


def main(argv: list[str]) -> None:
    settings = load_settings()
    configure_logging(settings.log_level)
    parser = argparse.ArgumentParser(prog="python -m workers.metrics_server")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - scraped from elsewhere
    parser.add_argument("--port", type=int, default=settings.metrics_port)
    args = parser.parse_args(argv)
    directory = metrics.multiprocess_dir()
    if directory is None:
        log.warning(
            "metrics: %s is not set: the processes count nothing, only the queues, campaigns "
            "and certificates are served",
            metrics.MULTIPROC_ENV,
        )
    elif metrics.wipe_if_unused(directory):
        log.info("metrics: emptied %s (no process writes there)", directory)
    else:
        log.info("metrics: kept %s (processes still write there)", directory)
    server, thread = start_http_server(
        args.port, addr=args.host, registry=build_registry(settings, directory)
    )
    log.info("metrics: serving http://%s:%d/metrics", args.host, server.server_port)
    thread.join()


if __name__ == "__main__":
    main(sys.argv[1:])
