"""The Celery application: the one `-A` target (`celery -A workers.celery_app worker`)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import (
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

from config.celery import celery_config
from shared.infra import metrics
from shared.infra.clock import utcnow
from shared.infra.db import get_database
from shared.infra.logs import bind_job_context, clear_job_context, configure_logging
from shared.repositories.indexes import ensure_indexes
from shared.webhooks.events import requeue_overdue
from workers import heap
from workers.runtime import settings, tenants

log = logging.getLogger(__name__)

# Task modules are listed explicitly: registration never depends on discovery order.
TASK_MODULES = [
    "workers.tasks.passes",
    "workers.tasks.webhooks",
    "workers.tasks.campaigns",
    "workers.tasks.imports",
    "workers.tasks.lifecycle",
    "workers.tasks.notifications",
    "workers.tasks.certificates",
    "workers.tasks.stats",
]

# At import, not only on Celery's setup_logging signal: what the worker says before that (its
# warning about running as root) and Flower, which never sends it, log the same way.
configure_logging(settings.log_level, settings.log_format)

app = Celery("passwire", include=TASK_MODULES)
app.config_from_object(celery_config(settings))


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    configure_logging(settings.log_level, settings.log_format)


@celeryd_init.connect
def _no_banner_in_json(instance: Any = None, **_: Any) -> None:
    # The start-up banner is printed, not logged: in JSON mode every line must be JSON.
    if settings.log_format == "json" and instance is not None:
        instance.quiet = True


@task_prerun.connect
def _bind_job_context(task: Any = None, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    # From before the job runs until after Celery logs its outcome ("succeeded in ..."), every
    # line names the job, its tenant and its correlationId (jobs carry them as kwargs).
    found = kwargs or {}
    bind_job_context(
        correlation_id=found.get("correlation_id"),
        tenant=found.get("tenant_id"),
        task=getattr(task, "name", None),
    )


@task_postrun.connect
def _clear_job_context(**_: Any) -> None:
    clear_job_context()
    heap.after_job()  # once per process: its long-lived objects out of the GC's way


@worker_process_init.connect
def _freeze_inherited_heap(**_: Any) -> None:
    heap.after_fork()


@worker_process_shutdown.connect
def _forget_live_metrics(pid: int, **_: Any) -> None:
    metrics.process_exited(pid)


@worker_ready.connect
def _prepare(**_: Any) -> None:
    for tenant in tenants().tenants.values():
        for problem in tenant.apple_identities.problems():
            # Said at start-up, not discovered by the first customer who adds a pass.
            log.error("tenant %s: Apple certificate problem: %s", tenant.id, problem)
        for problem in tenant.google_issuers.problems():
            log.error("tenant %s: Google service account problem: %s", tenant.id, problem)
    # Compose starts workers alongside MongoDB: give it a minute to come up.
    ensure_indexes(get_database(settings), wait_s=60)
    # Webhook deliveries whose job was lost (a broker flush, a failed enqueue) go out again.
    requeue_overdue(get_database(settings), app, now=utcnow())
