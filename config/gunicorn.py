"""gunicorn settings of the API: `gunicorn -c python:config.gunicorn api.wsgi:app` (Procfile,
docker-compose.yml and `make run` use it; bind address and workers stay on their command lines).

Access log lines go to stdout, in gunicorn's default (combined) format, with the value of every
`t=` query parameter replaced: `t` carries the signed link of a pass's download page
(`…/view?t=`, `…/download/apple?t=`), a bearer credential valid for days that must not be
copied into log storage. The request line, the query string, the Referer (a download link's
page is its Referer) and every other logged value are redacted alike.

With `LOG_FORMAT=json` the access and error lines are JSON objects like every other process's
(config/log_format.py); an access line names the tenant its path does.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import timedelta
from typing import Any, Final

from gunicorn import glogging
from prometheus_client.multiprocess import mark_process_dead

from config.log_format import JsonLineFormatter
from config.metrics import process_identifier
from config.settings import load_settings

REDACTED: Final = "[redacted]"
# `t=` at the start of a query string or after `?`, `&` or `;`, up to the next separator.
_LINK_TOKEN: Final = re.compile(r"((?:^|[?&;])t=)[^&;#\s\"]*")
# /api/{tenantId}/…, /apple/{tenantId}/v1/…, /google/{tenantId}/…
_TENANT_PATH: Final = re.compile(r"^/(?:api|apple|google)/([A-Za-z0-9_-]{1,64})/")


def redact_link_tokens(text: str) -> str:
    return _LINK_TOKEN.sub(rf"\g<1>{REDACTED}", text)


class _AccessTenant(logging.Filter):
    """The tenant an access line's path names (gunicorn logs after the request context ends)."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args if isinstance(record.args, dict) else {}
        match = _TENANT_PATH.match(str(atoms.get("U", "")))
        record.tenant = match.group(1) if match else None
        return True


class RedactingLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, with link tokens redacted from every access log value, and its
    lines in JSON when LOG_FORMAT=json."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if load_settings().log_format != "json":
            return
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonLineFormatter())
        for handler in self.access_log.handlers:
            handler.addFilter(_AccessTenant())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: timedelta) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {
            name: redact_link_tokens(value) if isinstance(value, str) else value
            for name, value in atoms.items()
        }


accesslog = "-"
logger_class = RedactingLogger


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges leave the metrics (its counters stay counted)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        mark_process_dead(process_identifier(worker.pid), directory)
