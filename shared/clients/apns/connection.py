"""One multiplexed HTTP/2 connection to APNs: its life cycle, opening streams, timeouts."""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, cast

from . import frames as wire
from .pushes import Batch
from .receiving import FrameReceiver

if TYPE_CHECKING:
    from .engine import AsyncApnsClient


class ApnsConnectionError(Exception):
    """No response: the connection failed, closed or timed out.

    ``unprocessed`` is True when the server guarantees it did not act on the request
    (stream above a GOAWAY's last stream id, REFUSED_STREAM, never sent)."""

    def __init__(self, message: str, *, unprocessed: bool = False) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed


class Connection(FrameReceiver):
    """Client side of one multiplexed APNs connection: a small HTTP/2 implementation.

    It takes requests from its client's queue whenever a stream slot is free and hands
    every answer or failure back to the client; it never waits on anything itself. All
    frames of a loop iteration go out in one write."""

    def __init__(self, client: AsyncApnsClient, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(client, loop)
        self._queue = client.queue
        self._transport: asyncio.Transport | None = None
        self._flush_pending = False
        self._inbuf = b""
        self._sweeper: asyncio.TimerHandle | None = None
        self._last_received = loop.time()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False

    @property
    def usable(self) -> bool:
        return not (self.closed or self.draining)

    # -- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        ssl_object = cast(ssl.SSLObject | None, transport.get_extra_info("ssl_object"))
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            self.close_reason = "server did not negotiate HTTP/2"
            self._transport.abort()
            return
        self._out += wire.CONNECTION_START
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost.set_result(None)
        if exc is not None:
            self.close_reason = f"{type(exc).__name__}: {exc}"
        elif not self.ready.done():
            # With TLS 1.3 a rejected client certificate shows up only as this EOF.
            self.close_reason = "closed during set-up (client certificate rejected?)"
        if not self.ready.done():
            self.ready.set_exception(ApnsConnectionError(self.close_reason))
        self._fail_streams(list(self._streams), self.close_reason, unprocessed=False)
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._client.schedule_kick()  # waiting requests need another connection

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._last_received = self._loop.time()
        if self._inbuf:
            data = self._inbuf + data
        try:
            used = self._receive(data)
        except wire.ProtocolError as err:
            self._connection_error(err)
            return
        self._inbuf = data[used:]
        if self._freed:
            self._freed = False
            if self._queue and self.usable:
                self.pump()
            if self.draining and not self._streams:
                self._close_drained()
                return
        self._flush()

    def _connection_error(self, err: wire.ProtocolError) -> None:
        self.close_reason = f"HTTP/2 protocol error: {err}"
        self.draining = True
        self._out += wire.goaway_frame(err.code)
        self._flush()
        self.abort()

    # -- sending -----------------------------------------------------------------------

    def pump(self) -> None:
        """Open streams for queued requests while the stream limit allows."""
        queue = self._queue
        streams = self._streams
        free = self._limit - len(streams)
        if free <= 0 or not queue or not self.usable:
            return
        out = self._out
        pack = wire.FRAME.pack
        windows = self._windows
        payload = windows.payload
        size = len(payload)
        stream_id = self._next_id
        deadline = self._loop.time() + self._config.request_timeout
        template = self._encoder.template
        last: Batch | None = None
        pre = post = b""
        while free > 0 and queue:
            push = queue.popleft()
            batch = push.batch
            if batch.cancelled:
                continue
            if stream_id > wire.MAX_STREAM_ID:
                queue.appendleft(push)
                self._ids_exhausted()
                break
            if batch is not last:
                pre, post, reusable = template(batch.topic)
                last = batch if reusable else None
            block = pre + push.field + post
            if (
                0 < size <= windows.connection
                and size <= windows.initial
                and not windows.bodies
                and len(block) <= wire.FRAME_LIMIT
            ):
                # The whole request in two frames, appended to this iteration's write.
                out += pack(len(block) << 8 | wire.HEADERS, wire.END_HEADERS, stream_id)
                out += block
                out += pack(size << 8 | wire.DATA, wire.END_STREAM, stream_id)
                out += payload
                windows.connection -= size
            else:
                windows.open_stream(out, stream_id, block)
            push.deadline = deadline
            streams[stream_id] = push
            stream_id += 2
            free -= 1
        self._next_id = stream_id
        if windows.bodies:
            windows.send_bodies(out)
        if self._sweeper is None and streams:
            self._arm_sweeper()

    def _ids_exhausted(self) -> None:
        # After ~1e9 requests on one connection: move on to a fresh one.
        self.draining = True
        self.close_reason = "stream ids exhausted"
        self._client.schedule_kick()
        if not self._streams:
            self._close_drained()

    def schedule_flush(self) -> None:
        # Coalesce everything queued in this loop iteration into one write: one syscall
        # and few TLS records for hundreds of streams.
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._out:
            data, self._out = self._out, bytearray()
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(data)

    # -- timeouts --------------------------------------------------------------------

    def _sweep(self) -> None:
        """Time out overdue streams; abort a connection that went silent."""
        self._sweeper = None
        if self.closed:
            return
        now = self._loop.time()
        overdue = [i for i, push in self._streams.items() if push.deadline <= now]
        for stream_id in overdue:
            self._out += wire.rst_stream_frame(stream_id, wire.CANCEL)
        self._fail_streams(overdue, "timed out waiting for APNs", unprocessed=False)
        if overdue and now - self._last_received >= self._config.request_timeout:
            self.close_reason = "connection silent past the request timeout"
            self._flush()
            self.abort()
            return
        if overdue and self._queue and self.usable:
            self.pump()
        self._flush()
        self._arm_sweeper()

    def _arm_sweeper(self) -> None:
        if self._sweeper is None and self._streams and not self.closed:
            delay = min(1.0, self._config.request_timeout / 4)
            self._sweeper = self._loop.call_later(delay, self._sweep)

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Polite close: GOAWAY, then TLS close."""
        if self._transport is None or self.closed:
            return
        self.draining = True
        self._out += wire.goaway_frame(wire.NO_ERROR)
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _close_drained(self) -> None:
        """After GOAWAY (either way) and the last answer: nothing more to wait for."""
        self._flush()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
