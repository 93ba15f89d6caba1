"""The one place Redis clients are made: one server (`redis://`) or the master of a set
watched by Redis Sentinel (`sentinel://`, config/redis_urls.py), for every Redis use but the
Celery broker (config/celery.py gives kombu the same target).

A Sentinel client asks the sentinels for the master's address on every new connection, and a
connection to a master demoted to replica is dropped (redis-py turns its READONLY into a
ConnectionError), so after a fail-over the next connection reaches the promoted replica. Each
command is retried a few times on a dropped connection, within a second or two; a longer
outage (the sentinels take `down-after-milliseconds` to agree the master is gone) is the
job's to retry (workers/base.py, shared/infra/transient.py). Lua scripts go through redis-py's
`Script`, which loads a script again when a new master answers NOSCRIPT.

Clients are per process (from the process registry: a pool inherited across fork would share
sockets), made on first use per URL and options.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from config.redis_urls import parse_sentinel_url
from shared.infra import process_clients

DEFAULT_TIMEOUT_S = 5.0
# Retries of one command on a dropped connection: about 1.5 s of backoff in all, enough for
# a restarted connection or a master that just answered READONLY, short enough that an API
# request fails fast while the sentinels are still deciding.
COMMAND_RETRIES = 5
_BACKOFF = ExponentialWithJitterBackoff(base=0.05, cap=0.5)


def process_client(
    redis_url: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sentinel_password: str = "",
    retries: int = COMMAND_RETRIES,
) -> redis.Redis:
    """This process's client for `redis_url` (REDIS_URL), made on first use."""
    return process_clients.get(
        ("redis", redis_url, timeout_s, sentinel_password, retries),
        lambda: connect(
            redis_url, timeout_s=timeout_s, sentinel_password=sentinel_password, retries=retries
        ),
    )


def connect(
    redis_url: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sentinel_password: str = "",
    retries: int = COMMAND_RETRIES,
    setting: str = "REDIS_URL",
) -> redis.Redis:
    """A new client for `redis_url`; `sentinel_password` authenticates to the sentinels of a
    `sentinel://` URL. Raises ValueError naming `setting` for a malformed URL."""
    target = parse_sentinel_url(redis_url, setting)
    timeouts = {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
    retry = Retry(_BACKOFF, retries)
    if target is None:
        return redis.Redis.from_url(redis_url, retry=retry, **timeouts)
    sentinel_kwargs: dict[str, object] = dict(timeouts)
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)
    client: redis.Redis = sentinel.master_for(
        target.master,
        db=target.db,
        username=target.username,
        password=target.password,
        retry=retry,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
    )
    return client
