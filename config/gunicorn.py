"""gunicorn settings of the API: `gunicorn -c python:config.gunicorn api.wsgi:app` (Procfile,
docker-compose.yml and `make run` use it; bind address and workers stay on their command lines).

Access log lines go to stdout, in gunicorn's default (combined) format, with the value of every
`t=` query parameter replaced: `t` carries the signed link of a pass's download page
(`…/view?t=`, `…/download/apple?t=`), a bearer credential valid for days that must not be
copied into log storage. The request line, the query string, the Referer (a download link's
page is its Referer) and every other logged value are redacted alike.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any, Final

from gunicorn import glogging
from prometheus_client.multiprocess import mark_process_dead

from config.metrics import process_identifier

REDACTED: Final = "[redacted]"
# `t=` at the start of a query string or after `?`, `&` or `;`, up to the next separator.
_LINK_TOKEN: Final = re.compile(r"((?:^|[?&;])t=)[^&;#\s\"]*")


def redact_link_tokens(text: str) -> str:
    return _LINK_TOKEN.sub(rf"\g<1>{REDACTED}", text)


class RedactingLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, with link tokens redacted from every access log value."""

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
