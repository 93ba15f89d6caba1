"""Enqueueing jobs by task name, so the API never imports worker code.

Task names are the contract between the API and the workers; config/celery.py routes them.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from config.celery import celery_config
from config.settings import Settings

CREATE_PASS = "passwire.passes.create"
UPDATE_PASS = "passwire.passes.update"
EMAIL_PASS = "passwire.passes.email"
# Void a pass in both wallets, then delete (or erase) it: shared/lifecycle/deletion.py.
DELETE_PASS = "passwire.passes.delete"


class EnqueueError(Exception):
    """The broker did not take the job."""


class JobQueue:
    def __init__(self, settings: Settings) -> None:
        self._app = Celery("passwire-producer")
        self._app.config_from_object(celery_config(settings))

    def enqueue(self, task_name: str, **kwargs: Any) -> None:
        try:
            self._app.send_task(task_name, kwargs=kwargs)
        except Exception as exc:  # kombu raises several connection error types
            raise EnqueueError(f"could not enqueue {task_name}: {type(exc).__name__}") from exc
