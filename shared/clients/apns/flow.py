"""Sending within the server's limits: flow-control windows (RFC 9113 6.9) and frame size."""

from __future__ import annotations

from .frames import (
    CONTINUATION,
    DATA,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    FLOW_CONTROL_ERROR,
    FRAME,
    FRAME_LIMIT,
    HEADERS,
    MAX_WINDOW,
    ProtocolError,
)


class Body:
    """A request body that did not fit the send windows when its HEADERS went out."""

    __slots__ = ("offset", "window")

    def __init__(self, window: int) -> None:
        self.offset = 0
        self.window = window  # the stream's send window


class SendWindows:
    """The server's send limits on one connection, and the request bodies waiting on them.

    A request normally goes out whole (see ``fits``); the general case, a body the windows
    do not admit yet, waits here in stream order until WINDOW_UPDATEs make room."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.connection = DEFAULT_WINDOW  # the connection's send window
        self.initial = DEFAULT_WINDOW  # the server's SETTINGS_INITIAL_WINDOW_SIZE
        self.max_frame = FRAME_LIMIT  # the server's SETTINGS_MAX_FRAME_SIZE
        self.bodies: dict[int, Body] = {}  # streams with request body left, in order

    def set_initial_window(self, value: int) -> None:
        if value > MAX_WINDOW:
            raise ProtocolError("INITIAL_WINDOW_SIZE too large", FLOW_CONTROL_ERROR)
        delta = value - self.initial
        self.initial = value
        for body in self.bodies.values():  # RFC 9113 6.9.2
            body.window += delta
            if body.window > MAX_WINDOW:
                raise ProtocolError("stream window overflow", FLOW_CONTROL_ERROR)

    def set_max_frame(self, value: int) -> None:
        if not FRAME_LIMIT <= value < 1 << 24:
            raise ProtocolError("MAX_FRAME_SIZE out of range")
        self.max_frame = value

    def grow_connection(self, increment: int) -> None:
        self.connection += increment
        if self.connection > MAX_WINDOW:
            raise ProtocolError("connection window overflow", FLOW_CONTROL_ERROR)

    def open_stream(self, out: bytearray, stream_id: int, block: bytes) -> None:
        """The general case of sending a request: a header block longer than a frame,
        no body, or a body the windows do not admit yet."""
        payload = self.payload
        end_stream = 0 if payload else END_STREAM
        step = self.max_frame
        chunks = [block[i : i + step] for i in range(0, len(block), step)]
        for index, chunk in enumerate(chunks):
            kind, flags = (CONTINUATION, 0) if index else (HEADERS, end_stream)
            if index == len(chunks) - 1:
                flags |= END_HEADERS
            out += FRAME.pack(len(chunk) << 8 | kind, flags, stream_id) + chunk
        if payload:
            self.bodies[stream_id] = Body(self.initial)

    def send_bodies(self, out: bytearray) -> None:
        """Send what the flow-control windows allow of waiting request bodies, in order."""
        payload = self.payload
        done = []
        for stream_id, body in self.bodies.items():
            while body.offset < len(payload):
                size = min(len(payload) - body.offset, body.window, self.connection, self.max_frame)
                if size <= 0:
                    break
                chunk = payload[body.offset : body.offset + size]
                body.offset += size
                body.window -= size
                self.connection -= size
                end = END_STREAM if body.offset == len(payload) else 0
                out += FRAME.pack(size << 8 | DATA, end, stream_id) + chunk
            if body.offset < len(payload):
                if self.connection <= 0:
                    break
                continue
            done.append(stream_id)
        for stream_id in done:
            del self.bodies[stream_id]
