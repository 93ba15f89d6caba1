"""Prometheus metrics: every definition in one place, one call per call site.

Multiprocess mode (prometheus_client): with PROMETHEUS_MULTIPROC_DIR set, each process (every
gunicorn worker, every Celery prefork child) writes its values to its own memory-mapped files
there, and the metrics server (workers/metrics_server.py) adds them up at scrape time. Files
are named by `<hostname>-<pid>`, not the pid alone: containers sharing the directory through a
volume have the same pids. Without the setting, values stay in process memory and nobody
serves them (metrics off).

Label values are bounded by configuration: task names, tenant ids, pass type identifiers,
wallets, reasons, URL *templates*, HTTP status classes. Never a pass id, a serial number, a
token or a URL: each distinct value is a series of its own, kept by Prometheus for weeks.

Every metric here has labels, so a process creates no file before it first counts something
(the metrics server cleans the directory when it starts, before the first job or request).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from typing import IO, Any, Protocol, TypeVar

from celery.exceptions import Retry
from celery.signals import before_task_publish
from prometheus_client import Counter, Histogram, values
from prometheus_client.multiprocess import mark_process_dead

from config.metrics import process_identifier

# Read by prometheus_client itself too: the same variable is the setting (config/settings.py).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Lock file every writing process holds shared: the directory is only wiped when none does.
WRITERS_LOCK = ".writers.lock"
# Message header carrying when a job was enqueued: the metrics server's queue age reads it.
SENT_AT_HEADER = "passwire_sent_at"

F = TypeVar("F", bound=Callable[..., Any])


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


_writers_lock: IO[bytes] | None = None


def _hold_writers_lock(directory: str) -> None:
    """Hold the directory's writers lock (shared) for this process's life; forked children
    inherit it."""
    global _writers_lock  # noqa: PLW0603 - one per process, opened once
    if _writers_lock is None:
        os.makedirs(directory, exist_ok=True)
        _writers_lock = open(os.path.join(directory, WRITERS_LOCK), "ab")  # noqa: SIM115
        fcntl.flock(_writers_lock, fcntl.LOCK_SH)


_directory = multiprocess_dir()
if _directory is not None:
    _hold_writers_lock(_directory)
    values.ValueClass = values.MultiProcessValue(process_identifier)


def wipe_if_unused(directory: str) -> bool:
    """Remove the values a previous run left in `directory` (prometheus_client requires it
    between runs), only when no live process writes there; True if it did."""
    os.makedirs(directory, exist_ok=True)
    # This process's own shared lock (if it holds one) is converted, not fought.
    lock = _writers_lock or open(os.path.join(directory, WRITERS_LOCK), "ab")  # noqa: SIM115
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
        return True
    finally:
        if lock is _writers_lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
        else:
            lock.close()


def process_exited(pid: int) -> None:
    """A gunicorn worker or Celery child ended: drop its live gauges (its counters stay
    counted, so totals never go down)."""
    directory = multiprocess_dir()
    if directory is not None:
        mark_process_dead(process_identifier(pid), directory)


# Jobs -----------------------------------------------------------------------------------

JOBS = Counter(
    "passwire_jobs",
    "Jobs run, by task and outcome (succeeded, failed, retried)",
    ["task", "outcome"],
)


@contextmanager
def counting_job(task: str) -> Iterator[None]:
    """Count one run of a job by how it ended."""
    try:
        yield
    except Retry:  # the job runs again later: it did not fail
        JOBS.labels(task, "retried").inc()
        raise
    except Exception:
        JOBS.labels(task, "failed").inc()
        raise
    JOBS.labels(task, "succeeded").inc()


@before_task_publish.connect
def _stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    # Celery's messages carry no enqueue time; the oldest message's age needs one.
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


# Campaigns ------------------------------------------------------------------------------

CAMPAIGN_PASSES = Counter(
    "passwire_campaign_passes",
    "Campaign passes processed, by tenant and outcome (rate(): passes per second)",
    ["tenant", "outcome"],
)


def count_campaign_batch(tenant: str, delivery: Mapping[str, int], **outcomes: int) -> None:
    """A campaign batch recorded: its passes by outcome (succeeded, unchanged, failed,
    cancelled) and the notifications among its `delivery` counters."""
    for outcome, count in outcomes.items():
        if count:
            CAMPAIGN_PASSES.labels(tenant, outcome).inc(count)
    count_notifications(tenant, delivery)


# Notifications --------------------------------------------------------------------------

NOTIFICATIONS = Counter(
    "passwire_notifications",
    "Lock-screen notifications sent or suppressed, by tenant, wallet and reason",
    ["tenant", "wallet", "outcome", "reason"],
)
# Operation counter name -> (wallet, outcome, reason).
_NOTIFICATION_COUNTERS = {
    "apple.notified": ("apple", "sent", "none"),
    "google.notified": ("google", "sent", "none"),
    "apple.notificationSuppressed": ("apple", "suppressed", "silent"),
    "google.notificationSuppressed": ("google", "suppressed", "silent"),
}


def count_notifications(tenant: str, counters: Mapping[str, int]) -> None:
    """The notification part of an item's or batch's delivery counters (shared/notifications/
    counting.py, shared/apple/push.py, shared/google/delivery.py name them)."""
    for name, count in counters.items():
        if count <= 0:
            continue
        labels = _NOTIFICATION_COUNTERS.get(name)
        if labels is None and name.startswith("suppressed."):
            # Held back on at least one wallet, for consent, budget or quietHours.
            labels = ("any", "suppressed", name.removeprefix("suppressed."))
        if labels is not None:
            NOTIFICATIONS.labels(tenant, *labels).inc(count)


# APNs and Google --------------------------------------------------------------------------


def status_class(status: int | None) -> str:
    """An HTTP status as a bounded label: the code below 500, `5xx`, `network` (no answer)."""
    if status is None or status <= 0:
        return "network"
    return "5xx" if status >= 500 else str(status)


class _PushResult(Protocol):
    @property
    def status(self) -> int | None: ...
    @property
    def outcome(self) -> str: ...


APNS_PUSHES = Counter(
    "passwire_apns_pushes",
    "APNs pushes by tenant, pass type, outcome (delivered, unregister, failed) and final status",
    ["tenant", "pass_type", "outcome", "status"],
)


def count_apns_pushes(tenant: str, pass_type: str, results: Iterable[_PushResult]) -> None:
    tally = Tally((str(result.outcome), status_class(result.status)) for result in results)
    for (outcome, status), count in tally.items():
        APNS_PUSHES.labels(tenant, pass_type, outcome, status).inc(count)


GOOGLE_REQUESTS = Counter(
    "passwire_google_requests",
    "Google Wallet REST requests (each attempt) by status: the code, 5xx or network",
    ["status"],
)
GOOGLE_QUOTA_WAIT = Counter(
    "passwire_google_quota_wait_seconds",
    "Seconds Google Wallet calls waited for the issuer's shared quota",
    ["client"],
)


def count_google_request(status: int | None) -> None:
    GOOGLE_REQUESTS.labels(status_class(status)).inc()


def google_quota_waited(seconds: float) -> float:
    """Count a wait for the quota; returns it (the client adds it to its own stats)."""
    GOOGLE_QUOTA_WAIT.labels("wallet").inc(seconds)
    return seconds


# External data ----------------------------------------------------------------------------

EXTERNAL_CALLS = Counter(
    "passwire_external_data_calls",
    "External data provider calls by provider and outcome (ok, failed)",
    ["provider", "outcome"],
)
EXTERNAL_SECONDS = Histogram(
    "passwire_external_data_seconds",
    "External data provider call latency by provider",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def external_data_call(function: F) -> F:
    """Decorates a provider's one HTTP call `(self, provider, …)` (one pass, or one batch of
    passes): counts it and times it."""

    @wraps(function)
    def timed(self: Any, provider: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            answer = function(self, provider, *args, **kwargs)
            outcome = "ok"
            return answer
        finally:
            EXTERNAL_SECONDS.labels(provider.id).observe(time.perf_counter() - started)
            EXTERNAL_CALLS.labels(provider.id, outcome).inc()

    return timed  # type: ignore[return-value]


# Webhooks and the PassKit web service --------------------------------------------------------

WEBHOOK_DELIVERIES = Counter(
    "passwire_webhook_deliveries",
    "Webhook delivery attempts by tenant and outcome (delivered, retry, failed)",
    ["tenant", "outcome"],
)


def count_webhook_attempt(tenant: str, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(tenant, outcome).inc()


PASSKIT_REQUESTS = Counter(
    "passwire_passkit_requests",
    "PassKit web service requests (Wallet devices) by endpoint template, method and status",
    ["endpoint", "method", "status"],
)


def count_passkit_request(endpoint: str | None, method: str, status: int) -> None:
    # `endpoint` is the route's template (`/apple/<tenantId>/v1/...`), never the path.
    PASSKIT_REQUESTS.labels(endpoint or "unmatched", method, str(status)).inc()
