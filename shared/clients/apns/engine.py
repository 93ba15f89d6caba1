"""The asyncio engine: queues pushes, (re)connects, and decides results and retries.

A ``send_pushes`` call queues its requests and waits on one future; the connection opens
streams from the queue whenever slots free up and hands every answer back here, where
429/5xx answers, timeouts and lost connections are retried with jittered exponential
backoff, and requests the server provably did not process are re-sent for free."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from .config import ApnsConfig, build_ssl_context
from .connection import ApnsConnectionError, Connection
from .pushes import Batch, Push
from .results import Outcome, PushResult, classify

log = logging.getLogger("shared.clients.apns")

_TOKEN_RE = re.compile(r"[0-9a-fA-F]{1,200}")  # APNs decides the length; we keep the path safe
_MAX_REFUSED = 5  # free re-sends of requests the server provably did not process

# Opens a transport for the protocol the factory makes (default: TLS to the configured host).
Dial = Callable[[Callable[[], asyncio.Protocol]], Awaitable[object]]


class AsyncApnsClient:
    """Pushes over one lazily (re)opened connection. Use from a single event loop;
    concurrent ``send_pushes`` calls share the connection and take turns for streams."""

    def __init__(
        self,
        config: ApnsConfig,
        ssl_context: ssl.SSLContext | None = None,
        *,
        dial: Dial | None = None,
    ) -> None:
        self.config = config
        self._ssl = ssl_context or build_ssl_context(config)
        self._dial = dial or self._dial_tls
        self._conn: Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._connect_failure: tuple[float, str] | None = None  # (until, message)
        self._rng = random.Random()  # noqa: S311 - jitter, not crypto
        self._kick_pending = False
        self.queue: deque[Push] = deque()  # requests waiting for a connection or a stream
        self.connections_opened = 0

    async def send_pushes(self, topic: str, tokens: Sequence[str]) -> list[PushResult]:
        """Push ``config.payload`` to every token; one result per token, in order."""
        unique = list(dict.fromkeys(tokens))  # a duplicate would only push twice
        results: list[PushResult | None] = [None] * len(unique)
        batch = Batch(topic.encode(), results, asyncio.get_running_loop().create_future())
        pushes = []
        for index, token in enumerate(unique):
            if _TOKEN_RE.fullmatch(token) is None:
                # Registrations come from devices; never put arbitrary text into a path.
                results[index] = PushResult(token, None, "BadDeviceToken", Outcome.UNREGISTER, 0)
            else:
                pushes.append(Push(batch, index, token))
        if pushes:
            batch.remaining = len(pushes)
            if self.queue:
                # Another batch is still being sent (another thread): take turns with it,
                # so a small batch is not stuck behind a big one.
                waiting = list(self.queue)
                self.queue.clear()
                pairs = itertools.zip_longest(waiting, pushes)
                self.queue.extend(p for p in itertools.chain.from_iterable(pairs) if p)
            else:
                self.queue.extend(pushes)
            self._kick()
            try:
                await batch.future
            except BaseException:
                batch.cancelled = True  # e.g. a Celery time limit: send nothing more
                kept = [push for push in self.queue if push.batch is not batch]
                self.queue.clear()
                self.queue.extend(kept)
                raise
        done = cast(list[PushResult], results)
        if len(unique) == len(tokens):
            return done
        by_token = dict(zip(unique, done, strict=True))
        return [by_token[token] for token in tokens]

    async def send(self, topic: str, token: str) -> PushResult:
        [result] = await self.send_pushes(topic, [token])
        return result

    async def close(self) -> None:
        """GOAWAY and close the connection, waiting (briefly) until it is gone."""
        if self._connecting is not None:
            self._connecting.cancel()
        connection, self._conn = self._conn, None
        if connection is not None:
            connection.close()
            try:
                async with asyncio.timeout(1.0):
                    await asyncio.shield(connection.lost)
            except TimeoutError:
                connection.abort()

    # -- request life cycle (called by the connection) -------------------------------------

    def answered(self, push: Push) -> None:
        push.attempts += 1
        status = push.status
        if status == 200 and not push.body:
            apns_id = push.apns_id.decode() if push.apns_id else None
            result = PushResult(push.token, 200, None, Outcome.DELIVERED, push.attempts, apns_id)
        else:
            reason: str | None = None
            timestamp: int | None = None
            if push.body:
                try:
                    document = json.loads(push.body)
                    reason = document.get("reason")
                    timestamp = document.get("timestamp")
                except (ValueError, AttributeError):
                    reason = push.body[:200].decode("utf-8", "replace")
            apns_id = push.apns_id.decode() if push.apns_id else None
            outcome = classify(status, reason)
            if outcome is Outcome.RETRY:
                self._retry(push, status, reason, apns_id)
                return
            result = PushResult(
                push.token, status, reason, outcome, push.attempts, apns_id, timestamp
            )
        if not push.batch.cancelled:
            push.batch.resolve(push.index, result)

    def failed(self, push: Push, message: str, *, unprocessed: bool) -> None:
        """No response. Requests the server did not process are re-sent at once."""
        if unprocessed and push.refused < _MAX_REFUSED:
            push.refused += 1
            push.reset()
            if not push.batch.cancelled:
                self.queue.append(push)
                self.schedule_kick()
            return
        push.attempts += 1
        self._retry(push, None, message[:200], None)

    def _retry(
        self, push: Push, status: int | None, reason: str | None, apns_id: str | None
    ) -> None:
        batch = push.batch
        if batch.cancelled:
            return
        if push.attempts >= self.config.max_attempts:
            batch.resolve(
                push.index,
                PushResult(push.token, status, reason, Outcome.FAILED, push.attempts, apns_id),
            )
            return
        push.reset()
        asyncio.get_running_loop().call_later(self._backoff(push.attempts), self._resubmit, push)

    def _resubmit(self, push: Push) -> None:
        if not push.batch.cancelled:
            self.queue.append(push)
            self.schedule_kick()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    # -- connecting ------------------------------------------------------------------------

    def schedule_kick(self) -> None:
        if not self._kick_pending:
            self._kick_pending = True
            asyncio.get_running_loop().call_soon(self._kick)

    def _kick(self) -> None:
        """Get queued requests moving: onto the connection, or start connecting."""
        self._kick_pending = False
        if not self.queue:
            return
        connection = self._conn
        if connection is not None and connection.usable:
            connection.pump()
            connection.schedule_flush()
            return
        if self._connecting is not None:
            return
        failure = self._connect_failure
        loop = asyncio.get_running_loop()
        if failure is not None and loop.time() < failure[0]:
            # Hundreds of waiting pushes must not each redial a failing host.
            self._fail_queue(failure[1])
            return
        self._connecting = loop.create_task(self._connect())

    def _fail_queue(self, message: str) -> None:
        waiting = list(self.queue)
        self.queue.clear()
        for push in waiting:
            if not push.batch.cancelled:
                self.failed(push, message, unprocessed=False)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        connection = Connection(self, loop)
        try:
            async with asyncio.timeout(config.connect_timeout):
                await self._dial(lambda: connection)
                await connection.ready  # the server's SETTINGS: TLS and HTTP/2 both work
        except BaseException as err:
            connection.abort()
            self._connecting = None
            if not isinstance(err, Exception):
                self._fail_queue("connection attempt cancelled")
                raise  # cancelled: nothing more to report
            message = f"connect to {config.host}:{config.port} failed: {_describe(err)}"
            self._connect_failure = (loop.time() + config.backoff_base, message[:200])
            self._fail_queue(message)
            return
        self._connecting = None
        self._connect_failure = None
        self._conn = connection
        self.connections_opened += 1
        log.info("apns: connected to %s:%s", config.host, config.port)
        self._kick()

    async def _dial_tls(self, protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        config = self.config
        await asyncio.get_running_loop().create_connection(
            protocol_factory, config.host, config.port, ssl=self._ssl, server_hostname=config.host
        )


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, ApnsConnectionError):
        return text[:200]
    return f"{type(err).__name__}: {text}"[:200]
