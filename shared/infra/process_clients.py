"""The clients of this process, one per key, made on first use and forgotten after fork.

Connection pools must not cross a fork (Celery prefork children, gunicorn workers): a socket
shared by two processes interleaves their bytes. Every long-lived client (MongoDB, Redis, the
external data pool, Google Wallet clients, webhook HTTP sessions, APNs) therefore comes from
`get`, and a forked child starts with an empty registry: it makes its own on first use. The
parent's clients are not closed in the child (their sockets are still the parent's).

Keys are tuples whose first item names the kind of client (`("redis", url, timeout)`), so two
kinds never collide.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")

_clients: dict[Hashable, Any] = {}
# Reentrant: a factory may get another client (a Google client needs this process's Redis).
_lock = threading.RLock()


def get(key: Hashable, factory: Callable[[], T]) -> T:
    """This process's client for `key`, made by `factory` the first time it is asked for."""
    with _lock:
        if key not in _clients:
            _clients[key] = factory()
        return cast(T, _clients[key])


def discard(key: Hashable) -> Any | None:
    """Forget the client for `key` (the caller closes it if it should); returns it, if any."""
    with _lock:
        return _clients.pop(key, None)


def _forget_after_fork() -> None:
    global _lock  # noqa: PLW0603 - another thread may have held the parent's lock at fork
    _lock = threading.RLock()
    _clients.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
