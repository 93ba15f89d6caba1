"""How a process names its metrics files in PROMETHEUS_MULTIPROC_DIR (shared/infra/metrics.py
writes them, config/gunicorn.py removes a dead worker's live ones)."""

from __future__ import annotations

import os
import socket


def process_identifier(pid: int | None = None) -> str:
    """`<hostname>-<pid>`: containers sharing the directory through a volume have the same
    pids. No `_`: prometheus_client splits file names on it."""
    host = socket.gethostname().replace("_", "-")
    return f"{host}-{os.getpid() if pid is None else pid}"
