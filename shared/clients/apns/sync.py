"""The synchronous, fork-safe :class:`ApnsClient` facade for Celery tasks, and the
per-process cache of one client per configuration (:func:`shared_client`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import Sequence

from shared.infra import process_clients

from .config import ApnsConfig, build_ssl_context
from .engine import AsyncApnsClient
from .results import PushResult

_instances: weakref.WeakSet[ApnsClient] = weakref.WeakSet()


class ApnsClient:
    """A :class:`~.results.PushSender`; safe to create at import time, before fork.

    Nothing is started until the first :meth:`send_pushes`; then this process gets one
    event-loop thread and one connection, reused by every later call from any thread.
    A forked child rebuilds both and never touches the parent's socket (closing a TLS
    transport would write into the parent's session)."""

    def __init__(self, config: ApnsConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: AsyncApnsClient | None = None
        _instances.add(self)

    def send_pushes(self, topic: str, tokens: Sequence[str]) -> list[PushResult]:
        if not tokens:
            return []
        loop, client = self._runtime()
        if threading.current_thread() is self._thread:
            raise RuntimeError("send_pushes() called from the client's own loop thread")
        future = asyncio.run_coroutine_threadsafe(client.send_pushes(topic, tokens), loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Celery's soft time limit interrupting the task
            raise

    @property
    def connections_opened(self) -> int:
        """Connections this process has opened (diagnostics and tests)."""
        client = self._client
        return client.connections_opened if client is not None and self._started_here() else 0

    def close(self) -> None:
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            if loop is None or thread is None or client is None or not self._started_here():
                self._reset()
                return
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()
            self._reset()

    def _started_here(self) -> bool:
        """Whether the loop thread and connection belong to this process, not to a parent
        we were forked from (a client made before a fork, outside the registry)."""
        return self._pid == os.getpid()

    def _runtime(self) -> tuple[asyncio.AbstractEventLoop, AsyncApnsClient]:
        with self._lock:
            if not self._started_here() or self._loop is None or self._client is None:
                self._reset()  # first use, or a forked child: start from nothing
                context = build_ssl_context(self.config)  # bad files fail the caller now
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="apns-client", daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._client = AsyncApnsClient(self.config, context)
            return self._loop, self._client

    def _reset(self) -> None:
        # Drop, never close, whatever a parent process left: its socket is shared with
        # the parent, and the GC only closes our copy of the file descriptor.
        self._loop = self._thread = self._client = None
        self._pid = None

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the parent may have held it while forking
        self._reset()


def shared_client(config: ApnsConfig) -> ApnsClient:
    """This process's client for ``config``: one connection per certificate and host."""
    return process_clients.get(("apns", config), lambda: ApnsClient(config))


def _reset_all_after_fork() -> None:
    # Clients made before the fork (directly, not through the registry) start over too.
    for client in list(_instances):
        client._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_all_after_fork)
