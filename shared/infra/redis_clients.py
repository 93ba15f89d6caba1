"""This process's Redis client (and connection pool) per URL and timeout, made on first use
(from the process registry: a pool inherited across fork would share sockets)."""

from __future__ import annotations

import redis

from shared.infra import process_clients

DEFAULT_TIMEOUT_S = 5.0


def process_client(redis_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    return process_clients.get(
        ("redis", redis_url, timeout_s),
        lambda: redis.Redis.from_url(
            redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        ),
    )
