"""Requests in flight: a ``send_pushes`` call (:class:`Batch`) and its tokens (:class:`Push`)."""

from __future__ import annotations

import asyncio

from .hpack import path_field_head
from .results import PushResult


class Batch:
    """One ``send_pushes`` call: its results, and a single future for all of them."""

    __slots__ = ("cancelled", "future", "remaining", "results", "topic")

    def __init__(
        self, topic: bytes, results: list[PushResult | None], future: asyncio.Future[None]
    ) -> None:
        self.topic = topic
        self.results = results
        self.future = future
        self.remaining = 0
        self.cancelled = False

    def resolve(self, index: int, result: PushResult) -> None:
        self.results[index] = result
        self.remaining -= 1
        if not self.remaining and not self.future.done():
            self.future.set_result(None)


class Push:
    """One token of a batch, across its attempts; the per-stream state of the current one."""

    __slots__ = (
        "apns_id",
        "attempts",
        "batch",
        "body",
        "deadline",
        "field",
        "index",
        "received",
        "refused",
        "status",
        "token",
    )

    def __init__(self, batch: Batch, index: int, token: str) -> None:
        self.batch = batch
        self.index = index
        self.token = token
        self.field = path_field_head(len(token)) + token.encode()  # HPACK :path field
        self.attempts = 0  # counted attempts concluded
        self.refused = 0  # free re-sends used
        self.deadline = 0.0
        self.status = 0  # final HTTP status of the current attempt, 0 until it arrives
        self.apns_id: bytes | None = None
        self.body = b""
        self.received = 0  # DATA bytes not yet given back with a stream WINDOW_UPDATE

    def reset(self) -> None:
        self.status = 0
        self.apns_id = None
        self.body = b""
        self.received = 0
