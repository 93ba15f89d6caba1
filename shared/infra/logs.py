"""Logging set-up shared by the API and the workers: every line carries the correlationId."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

correlation_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "correlation_id", default="-"
)

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s [cid=%(correlation_id)s] %(message)s"


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id_var.get()
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(CorrelationIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # pymongo's command log at DEBUG would print whole documents: tokens and identifiers.
    logging.getLogger("pymongo").setLevel(logging.WARNING)


@contextmanager
def correlation_context(correlation_id: str) -> Iterator[None]:
    token = correlation_id_var.set(correlation_id)
    try:
        yield
    finally:
        correlation_id_var.reset(token)
