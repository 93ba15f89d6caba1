"""What a log line looks like, for every passwire process: plain text (the local default) or
one JSON object per line (`LOG_FORMAT=json`, for log shippers).

Here, not in shared/infra/logs.py, because the gunicorn configuration (config/gunicorn.py)
formats its access and error lines the same way and config never imports shared.

A JSON line carries a fixed set of keys and nothing else: time, level, logger, process,
message, correlationId, tenant, task (null where not known), plus exception or stack text.
Attributes other libraries attach to records (Celery's `data` extra holds a job's arguments)
are left out, so a secret passed as an argument never reaches log storage by that route.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS: Final = ("text", "json")

TEXT_FORMAT: Final = (
    "%(asctime)s %(levelname)s %(processName)s %(name)s [cid=%(correlation_id)s] %(message)s"
)

# LogRecord attribute -> JSON key, in the order a line shows them. The context attributes
# (correlation_id, tenant, task) are set by shared/infra/logs.py's filter; None when unknown.
JSON_KEYS: Final = {
    "levelname": "level",
    "name": "logger",
    "processName": "process",
    "message": "message",
    "correlation_id": "correlationId",
    "tenant": "tenant",
    "task": "task",
}
# What the formatter adds for a record with exc_info or stack_info.
_TRACE_KEYS: Final = ("exc_info", "stack_info")


class JsonLineFormatter(JsonFormatter):
    """python-json-logger's formatter, limited to JSON_KEYS (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(
            list(JSON_KEYS),
            rename_fields={**JSON_KEYS, "exc_info": "exception", "stack_info": "stack"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = self.formatTime(record)
        for attribute, key in JSON_KEYS.items():
            value = record.__dict__.get(attribute)
            # "-" is the text format's "no correlationId"; JSON says null.
            log_data[key] = None if value == "-" else value
        for attribute in _TRACE_KEYS:
            if message_dict.get(attribute):
                log_data[self._get_rename(attribute)] = message_dict[attribute]

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 in UTC with milliseconds, whatever the machine's time zone.
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for `log_format` (one of LOG_FORMATS)."""
    if log_format == "json":
        return JsonLineFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
