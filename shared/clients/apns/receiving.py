"""The receiving half of an APNs connection: one handler per HTTP/2 frame type.

Responses end their stream (answer or failure, handed to the engine); control frames
update what :class:`~.connection.Connection` may send. Breaches of RFC 9113 raise
:class:`~.frames.ProtocolError`, which ends the connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import frames as wire
from .flow import SendWindows
from .hpack import HpackDecoder, HpackError, RequestEncoder
from .pushes import Push

if TYPE_CHECKING:
    from .engine import AsyncApnsClient

log = logging.getLogger("shared.clients.apns")


class FrameReceiver(asyncio.Protocol):
    """Connection state, and what each frame the server sends does to it."""

    def __init__(self, client: AsyncApnsClient, loop: asyncio.AbstractEventLoop) -> None:
        config = client.config
        self._client = client
        self._config = config
        self._loop = loop
        self._out = bytearray()  # frames for the next write
        self._decoder = HpackDecoder()
        self._streams: dict[int, Push] = {}  # open streams (ours: always odd ids)
        self._windows = SendWindows(config.payload)
        self._next_id = 1
        self._header_block: tuple[int, int, bytearray] | None = None  # CONTINUATION state
        self._freed = False  # a stream closed during this read
        # The server's settings (RFC 9113 defaults until its SETTINGS arrive).
        self._server_streams = wire.MAX_STREAM_ID
        self._limit = min(config.max_streams, self._server_streams)
        self._server_table_size = wire.HPACK_TABLE_SIZE
        authority = config.host.encode()
        if config.port != 443:
            authority += b":%d" % config.port
        self._encoder = RequestEncoder(authority, b"%d" % len(config.payload))
        self._receive_window = wire.RECEIVE_WINDOW  # left of what we granted the connection
        self._handlers: dict[int, Callable[[int, int, bytes], None]] = {
            wire.DATA: self._on_data,
            wire.HEADERS: self._on_headers_frame,
            wire.PRIORITY: self._on_priority,
            wire.RST_STREAM: self._on_rst_stream,
            wire.SETTINGS: self._on_settings,
            wire.PUSH_PROMISE: self._on_push_promise,
            wire.PING: self._on_ping,
            wire.GOAWAY: self._on_goaway,
            wire.WINDOW_UPDATE: self._on_window_update,
            wire.CONTINUATION: self._on_continuation,
        }
        self.ready: asyncio.Future[None] = loop.create_future()
        # Consume a failure nobody awaits any more (e.g. after a connect timeout).
        self.ready.add_done_callback(lambda fut: fut.cancelled() or fut.exception())
        self.draining = False  # GOAWAY received or stream ids exhausted: no new streams
        self.close_reason = "connection closed"

    def _receive(self, data: bytes) -> int:
        """Handle every complete frame in ``data``; returns how many bytes were used."""
        pos, size = 0, len(data)
        unpack = wire.FRAME.unpack_from
        handlers = self._handlers
        while size - pos >= 9:
            head, flags, stream_id = unpack(data, pos)
            length = head >> 8
            if length > wire.FRAME_LIMIT:
                raise wire.ProtocolError(f"frame of {length} bytes", wire.FRAME_SIZE_ERROR)
            end = pos + 9 + length
            if end > size:
                break
            kind = head & 0xFF
            if self._header_block is not None and kind != wire.CONTINUATION:
                raise wire.ProtocolError("header block interrupted")
            handler = handlers.get(kind)
            if handler is not None:  # unknown frame types are ignored (RFC 9113 5.5)
                handler(flags, stream_id & wire.MAX_STREAM_ID, data[pos + 9 : end])
            pos = end
        return pos

    # -- responses -----------------------------------------------------------------------

    def _on_headers_frame(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise wire.ProtocolError("HEADERS on stream 0")
        if flags & (wire.PADDED | wire.PRIORITY_FLAG):
            payload = wire.unpad(payload, flags, 5 if flags & wire.PRIORITY_FLAG else 0)
        if flags & wire.END_HEADERS:
            self._on_headers(stream_id, payload, flags & wire.END_STREAM)
        else:
            self._header_block = (stream_id, flags & wire.END_STREAM, bytearray(payload))

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        block = self._header_block
        if block is None or block[0] != stream_id:
            raise wire.ProtocolError("unexpected CONTINUATION")
        block[2].extend(payload)
        if len(block[2]) > wire.HEADER_LIST_LIMIT:
            raise wire.ProtocolError("header block too large")
        if flags & wire.END_HEADERS:
            self._header_block = None
            self._on_headers(stream_id, bytes(block[2]), block[1])

    def _on_headers(self, stream_id: int, block: bytes, end_stream: int) -> None:
        try:
            headers = self._decoder.decode(block)
        except HpackError as err:
            raise wire.ProtocolError(f"HPACK: {err}", wire.COMPRESSION_ERROR) from None
        push = self._streams.get(stream_id)
        if push is None:
            self._check_closed(stream_id)
            return
        if not push.status:
            status = b""
            for name, value in headers:
                if name == b":status":
                    status = value
                elif name == b"apns-id":
                    push.apns_id = value
            code = int(status) if len(status) == 3 and status.isdigit() else 0
            if code < 100:
                self._reset(stream_id, push, wire.PROTOCOL_ERROR, "malformed response headers")
                return
            if code < 200:  # informational: the final answer follows
                if end_stream:
                    self._reset(stream_id, push, wire.PROTOCOL_ERROR, "response without status")
                return
            push.status = code
        if end_stream:
            self._finish(stream_id, push)

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise wire.ProtocolError("DATA on stream 0")
        length = len(payload)
        # Flow control counts the whole frame, for any stream, even one we forgot.
        self._receive_window -= length
        if self._receive_window < 0:
            raise wire.ProtocolError("connection window exceeded", wire.FLOW_CONTROL_ERROR)
        if self._receive_window <= wire.RECEIVE_WINDOW // 2:
            self._out += wire.window_update_frame(0, wire.RECEIVE_WINDOW - self._receive_window)
            self._receive_window = wire.RECEIVE_WINDOW
        if flags & wire.PADDED:
            payload = wire.unpad(payload, flags, 0)
        push = self._streams.get(stream_id)
        if push is None:
            self._check_closed(stream_id)
            return
        if not push.status:
            self._reset(stream_id, push, wire.PROTOCOL_ERROR, "DATA before response headers")
            return
        if payload and len(push.body) < wire.MAX_BODY:
            push.body += payload[: wire.MAX_BODY - len(push.body)]
        if flags & wire.END_STREAM:
            self._finish(stream_id, push)
            return
        push.received += length
        if push.received >= wire.RECEIVE_WINDOW // 2:
            self._out += wire.window_update_frame(stream_id, push.received)
            push.received = 0

    def _on_rst_stream(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise wire.ProtocolError("RST_STREAM on stream 0")
        if len(payload) != 4:
            raise wire.ProtocolError("RST_STREAM size", wire.FRAME_SIZE_ERROR)
        code = int.from_bytes(payload, "big")
        push = self._streams.get(stream_id)
        if push is None:
            self._check_closed(stream_id)
            return
        self._forget(stream_id)
        self._client.failed(
            push, f"stream reset ({wire.error_name(code)})", unprocessed=code == wire.REFUSED_STREAM
        )

    # -- connection control ----------------------------------------------------------------

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise wire.ProtocolError("SETTINGS on a stream")
        if flags & wire.ACK:
            if payload:
                raise wire.ProtocolError("SETTINGS ack with a payload", wire.FRAME_SIZE_ERROR)
            return
        if len(payload) % 6:
            raise wire.ProtocolError("SETTINGS size", wire.FRAME_SIZE_ERROR)
        for offset in range(0, len(payload), 6):
            self._apply_setting(*wire.SETTING.unpack_from(payload, offset))
        self._limit = min(self._config.max_streams, self._server_streams)
        self._out += wire.SETTINGS_ACK
        if not self.ready.done():
            self.ready.set_result(None)
        self._freed = True  # the stream limit may have grown
        if self._windows.bodies:
            self._windows.send_bodies(self._out)

    def _apply_setting(self, code: int, value: int) -> None:
        if code == wire.HEADER_TABLE_SIZE and value != self._server_table_size:
            self._server_table_size = value
            self._encoder.set_limit(value)
        elif code == wire.ENABLE_PUSH and value > 1:
            raise wire.ProtocolError("ENABLE_PUSH not 0 or 1")
        elif code == wire.MAX_CONCURRENT_STREAMS:
            self._server_streams = value
        elif code == wire.INITIAL_WINDOW_SIZE:
            self._windows.set_initial_window(value)
        elif code == wire.MAX_FRAME_SIZE:
            self._windows.set_max_frame(value)

    def _on_ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise wire.ProtocolError("PING on a stream")
        if len(payload) != 8:
            raise wire.ProtocolError("PING size", wire.FRAME_SIZE_ERROR)
        if not flags & wire.ACK:
            self._out += wire.FRAME.pack(8 << 8 | wire.PING, wire.ACK, 0) + payload

    def _on_goaway(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise wire.ProtocolError("GOAWAY on a stream")
        if len(payload) < 8:
            raise wire.ProtocolError("GOAWAY size", wire.FRAME_SIZE_ERROR)
        last, code = wire.GOAWAY_HEAD.unpack_from(payload)
        last &= wire.MAX_STREAM_ID
        self.draining = True
        detail = payload[8:].decode("utf-8", "replace")[:200]
        self.close_reason = f"GOAWAY {wire.error_name(code)}" + (f" {detail}" if detail else "")
        log.info("apns: %s:%s sent %s", self._config.host, self._config.port, self.close_reason)
        unprocessed = [i for i in self._streams if i > last]
        self._fail_streams(unprocessed, self.close_reason, unprocessed=True)
        self._freed = True  # closes the connection once the processed streams are answered
        self._client.schedule_kick()  # queued requests need another connection

    def _on_window_update(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise wire.ProtocolError("WINDOW_UPDATE size", wire.FRAME_SIZE_ERROR)
        increment = int.from_bytes(payload, "big") & wire.MAX_WINDOW
        windows = self._windows
        if not stream_id:
            if not increment:
                raise wire.ProtocolError("WINDOW_UPDATE of 0")
            windows.grow_connection(increment)
        else:
            push = self._streams.get(stream_id)
            if push is None:
                self._check_closed(stream_id)
                return
            if not increment:
                self._reset(stream_id, push, wire.PROTOCOL_ERROR, "stream WINDOW_UPDATE of 0")
                return
            body = windows.bodies.get(stream_id)
            if body is None:
                return  # our side of the stream is complete: its window no longer matters
            body.window += increment
            if body.window > wire.MAX_WINDOW:
                self._reset(stream_id, push, wire.FLOW_CONTROL_ERROR, "stream window overflow")
                return
        if windows.bodies:
            windows.send_bodies(self._out)

    def _on_push_promise(self, flags: int, stream_id: int, payload: bytes) -> None:
        raise wire.ProtocolError("PUSH_PROMISE with push disabled")

    def _on_priority(self, flags: int, stream_id: int, payload: bytes) -> None:
        if not stream_id:
            raise wire.ProtocolError("PRIORITY on stream 0")

    def _check_closed(self, stream_id: int) -> None:
        """A frame for a stream we do not track: fine if it is one of ours that closed
        (e.g. we reset it), a protocol error if it was never opened."""
        if not stream_id & 1 or stream_id >= self._next_id:
            raise wire.ProtocolError(f"frame on idle stream {stream_id}")

    # -- stream ends ---------------------------------------------------------------------

    def _forget(self, stream_id: int) -> None:
        del self._streams[stream_id]
        if self._windows.bodies:
            self._windows.bodies.pop(stream_id, None)
        self._freed = True

    def _finish(self, stream_id: int, push: Push) -> None:
        del self._streams[stream_id]
        self._freed = True
        bodies = self._windows.bodies
        if bodies and bodies.pop(stream_id, None) is not None:
            # The server answered before the whole body went out: end our half too.
            self._out += wire.rst_stream_frame(stream_id, wire.NO_ERROR)
        self._client.answered(push)

    def _reset(self, stream_id: int, push: Push, code: int, message: str) -> None:
        """A stream error: RST_STREAM, and the request fails (without a response)."""
        self._out += wire.rst_stream_frame(stream_id, code)
        self._forget(stream_id)
        self._client.failed(push, message, unprocessed=False)

    def _fail_streams(self, ids: list[int], message: str, *, unprocessed: bool) -> None:
        for stream_id in ids:
            push = self._streams.get(stream_id)
            if push is not None:
                self._forget(stream_id)
                self._client.failed(push, message, unprocessed=unprocessed)
