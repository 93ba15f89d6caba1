"""Logging set-up shared by the API, the workers, beat and the command line: every line carries
the correlationId, and the tenant and job where known (config/log_format.py: text or JSON).

The context lives in context variables: the API sets the tenant for a request
(api/app.py) and the correlationId around the work of a job it accepts; a worker sets all
three for the whole run of a job, Celery's own lines about it included (workers/celery_app.py).
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from config.log_format import formatter

correlation_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "correlation_id", default="-"
)
tenant_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant", default=None)
task_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task", default=None)

REDACTED: Final = "[redacted]"
# Credentials a message must never carry, replaced should one slip through (the log calls
# themselves name passes and devices by id, never by token): a download link's `t=`, the
# `Authorization: ApplePass …` / `Bearer …` value, and an `X-API-Key` header value.
_SECRETS: Final = (
    re.compile(r"((?:^|[?&;])t=)[^&;#\s\"']+"),
    re.compile(r"(\b(?:ApplePass|Bearer)\s+)[^\s\"',;]+", re.IGNORECASE),
    re.compile(r"(X-API-Key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+", re.IGNORECASE),
)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class ContextFilter(logging.Filter):
    """Adds the context to every record, and redacts credentials from its message (a safety
    net: see _SECRETS)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id_var.get()
        record.tenant = tenant_var.get()
        record.task = task_var.get()
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when the line is formatted
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str, log_format: str = "text") -> None:
    """One handler on the root logger, on stderr, in `log_format` (LOG_FORMAT)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Python warnings (Celery's "running as root") as log lines, not raw text on stderr.
    logging.captureWarnings(True)
    # pymongo's command log at DEBUG would print whole documents: tokens and identifiers.
    logging.getLogger("pymongo").setLevel(logging.WARNING)


@contextmanager
def correlation_context(correlation_id: str) -> Iterator[None]:
    token = correlation_id_var.set(correlation_id)
    try:
        yield
    finally:
        correlation_id_var.reset(token)


def bind_job_context(*, correlation_id: str | None, tenant: str | None, task: str | None) -> None:
    """Set the context for a job about to run in this thread (ended by clear_job_context)."""
    correlation_id_var.set(correlation_id or "-")
    tenant_var.set(tenant)
    task_var.set(task)


def clear_job_context() -> None:
    bind_job_context(correlation_id=None, tenant=None, task=None)


def bind_tenant(tenant: str | None) -> contextvars.Token[str | None]:
    """Set the tenant of a request; give the token back to `reset_tenant` when it ends."""
    return tenant_var.set(tenant)


def reset_tenant(token: contextvars.Token[str | None]) -> None:
    tenant_var.reset(token)
