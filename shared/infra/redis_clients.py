"""One Redis client (and connection pool) per process and URL, created on first use.

Keyed by process id too: a pool inherited across fork would share sockets between processes.
"""

from __future__ import annotations

import os
import threading

import redis

DEFAULT_TIMEOUT_S = 5.0
_clients: dict[tuple[int, str, float], redis.Redis] = {}
_lock = threading.Lock()


def process_client(redis_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    key = (os.getpid(), redis_url, timeout_s)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = redis.Redis.from_url(
                redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
            )
            _clients[key] = client
        return client
