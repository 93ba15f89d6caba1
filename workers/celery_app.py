"""The Celery application: the one `-A` target (`celery -A workers.celery_app worker`)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_shutdown, worker_ready

from config.celery import celery_config
from shared.infra import metrics
from shared.infra.clock import utcnow
from shared.infra.db import get_database
from shared.infra.logs import configure_logging
from shared.repositories.indexes import ensure_indexes
from shared.webhooks.events import requeue_overdue
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
]

app = Celery("passwire", include=TASK_MODULES)
app.config_from_object(celery_config(settings))


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    configure_logging(settings.log_level)


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
