"""Base task: correlationId in every log line, transient infrastructure errors retried on a time
budget, and an operation marked `failed` (with the reason) only for errors no retry can fix."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from celery import Task

from shared import operations
from shared.infra import metrics
from shared.infra.logs import correlation_context
from shared.infra.transient import TRANSIENT_ERRORS
from workers.runtime import database, settings

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# Module names, so a test can run the loop on a clock of its own.
monotonic, sleep = time.monotonic, time.sleep


class TransientBudgetSpent(Exception):
    """The infrastructure stayed unreachable for the whole retry budget."""


class PasswireTask(Task):  # type: ignore[misc]
    # A job whose operation the campaign watchdog resumes from MongoDB (shared/campaigns/
    # recovery.py): giving up on an outage leaves it running, never `failed`.
    resumable = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        correlation_id = kwargs.get("correlation_id", "-")
        with correlation_context(correlation_id), metrics.counting_job(self.name):
            return self._with_retries(*args, **kwargs)

    def _with_retries(self, *args: Any, **kwargs: Any) -> Any:
        """Run the job; on a dropped connection to Redis or MongoDB, run it again (jobs are
        idempotent) with a capped backoff, until `transient_retry_budget_s` has passed since
        the first such error. In the process, not by re-publishing: the broker may be what
        is down."""
        # Within the task's time limit (with a margin for the work itself), or the limit
        # would kill the job mid-retry and fail it.
        budget = float(
            max(min(settings.transient_retry_budget_s, settings.task_time_limit - 60), 0)
        )
        first_error_at: float | None = None
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                return super().__call__(*args, **kwargs)
            except TRANSIENT_ERRORS as exc:
                now = monotonic()
                first_error_at = now if first_error_at is None else first_error_at
                spent = now - first_error_at
                if spent >= budget:
                    return self._give_up(exc, spent)
                pause = min(backoff, MAX_BACKOFF_S, budget - spent) * random.uniform(0.8, 1.0)  # noqa: S311
                log.warning(
                    "job %s: %s; retrying in %.1f s (%.0f of %.0f s spent)",
                    self.name,
                    type(exc).__name__,
                    pause,
                    spent,
                    budget,
                )
                sleep(pause)
                backoff *= 2

    def _give_up(self, exc: Exception, spent: float) -> str:
        reason = f"infrastructure unavailable for {spent:.0f} s ({type(exc).__name__})"
        if self.resumable:
            # Acknowledged and dropped: MongoDB still says what is left to do, and the
            # watchdog re-sends it once the infrastructure is back.
            log.error("job %s gave up, left for the watchdog: %s", self.name, reason)
            return "left-for-watchdog"
        # Any other job: its on_failure decides (the operation fails, with this reason).
        raise TransientBudgetSpent(reason) from exc

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        correlation_id = kwargs.get("correlation_id")
        if correlation_id:
            with correlation_context(correlation_id):
                # An outage outlasting the retry budget, with its length; else an error no
                # retry can fix (a bug), by its type only (its text may hold personal data).
                reason = (
                    str(exc)
                    if isinstance(exc, TransientBudgetSpent)
                    else f"internal error ({type(exc).__name__})"
                )
                log.error("job %s gave up: %s", self.name, reason)
                operations.fail(database(), correlation_id, reason)
