"""The Celery application: the one `-A` target (`celery -A workers.celery_app worker`)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_ready

from config.celery import celery_config
from shared.db import close_client, get_database
from shared.logs import configure_logging
from shared.repositories.indexes import ensure_indexes
from workers.runtime import settings

# Task modules are listed explicitly: registration never depends on discovery order.
TASK_MODULES = ["workers.tasks.passes"]

app = Celery("passwire", include=TASK_MODULES)
app.config_from_object(celery_config(settings))


@setup_logging.connect
def _configure_logging(**_: Any) -> None:
    configure_logging(settings.log_level)


@worker_process_init.connect
def _fresh_connections_after_fork(**_: Any) -> None:
    # A pymongo client must not be shared across fork: each child opens its own.
    close_client()


@worker_ready.connect
def _create_indexes(**_: Any) -> None:
    ensure_indexes(get_database(settings))
