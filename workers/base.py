"""Base task: correlationId in every log line, retries for transient infrastructure errors,
and an operation marked `failed` (with the reason) when a job gives up."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from pymongo.errors import AutoReconnect, ConnectionFailure

from shared import operations
from shared.infra.logs import correlation_context
from workers.runtime import database

log = logging.getLogger(__name__)


class PasswireTask(Task):  # type: ignore[misc]
    # MongoDB fail-overs and dropped connections are worth retrying; bugs are not.
    autoretry_for = (AutoReconnect, ConnectionFailure)
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 5

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with correlation_context(kwargs.get("correlation_id", "-")):
            return super().__call__(*args, **kwargs)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        correlation_id = kwargs.get("correlation_id")
        if correlation_id:
            with correlation_context(correlation_id):
                log.error("job %s gave up: %s", self.name, type(exc).__name__)
                operations.fail(
                    database(), correlation_id, f"internal error ({type(exc).__name__})"
                )
