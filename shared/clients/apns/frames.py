"""HTTP/2 wire essentials (RFC 9113): frame layout, codes, our settings, frame builders."""

from __future__ import annotations

import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME = struct.Struct(">IBI")  # (length << 8 | type, flags, stream id): a frame header
SETTING = struct.Struct(">HI")
GOAWAY_HEAD = struct.Struct(">II")

# Frame types.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
# Flags.
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
# Error codes (names for messages).
ERROR_NAMES = (
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
)
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR = 0x0, 0x1, 0x3, 0x6
REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x7, 0x8, 0x9
# Settings.
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6

MAX_WINDOW = (1 << 31) - 1
MAX_STREAM_ID = (1 << 31) - 1
DEFAULT_WINDOW = 65_535
FRAME_LIMIT = 16_384  # our SETTINGS_MAX_FRAME_SIZE: the protocol default, never raised
HEADER_LIST_LIMIT = 65_536  # our SETTINGS_MAX_HEADER_LIST_SIZE (advisory; enforced here)
HPACK_TABLE_SIZE = 4_096  # our SETTINGS_HEADER_TABLE_SIZE: the protocol default
RECEIVE_WINDOW = 1 << 24  # per stream and for the connection
MAX_BODY = 4_096  # response body bytes kept per stream (APNs sends ~50)

_CLIENT_SETTINGS = (
    SETTING.pack(ENABLE_PUSH, 0)
    + SETTING.pack(INITIAL_WINDOW_SIZE, RECEIVE_WINDOW)
    + SETTING.pack(MAX_HEADER_LIST_SIZE, HEADER_LIST_LIMIT)
)
CONNECTION_START = (
    PREFACE
    + FRAME.pack(len(_CLIENT_SETTINGS) << 8 | SETTINGS, 0, 0)
    + _CLIENT_SETTINGS
    + FRAME.pack(4 << 8 | WINDOW_UPDATE, 0, 0)
    + (RECEIVE_WINDOW - DEFAULT_WINDOW).to_bytes(4, "big")
)
SETTINGS_ACK = FRAME.pack(SETTINGS, ACK, 0)


def error_name(code: int) -> str:
    return ERROR_NAMES[code] if code < len(ERROR_NAMES) else f"error 0x{code:x}"


class ProtocolError(Exception):
    """The server broke HTTP/2: a connection error (GOAWAY with ``code``, then close)."""

    def __init__(self, message: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


def unpad(payload: bytes, flags: int, priority: int) -> bytes:
    """Strip the padding (and a HEADERS frame's priority fields) off a frame payload."""
    start, end = priority, len(payload)
    if flags & PADDED:
        if not payload:
            raise ProtocolError("padded frame without pad length", FRAME_SIZE_ERROR)
        start += 1
        end -= payload[0]
    if end < start:
        raise ProtocolError("padding exceeds the frame")
    return payload[start:end]


def goaway_frame(code: int) -> bytes:
    # Last stream id 0: we never process server-initiated streams.
    return FRAME.pack(8 << 8 | GOAWAY, 0, 0) + GOAWAY_HEAD.pack(0, code)


def rst_stream_frame(stream_id: int, code: int) -> bytes:
    return FRAME.pack(4 << 8 | RST_STREAM, 0, stream_id) + code.to_bytes(4, "big")


def window_update_frame(stream_id: int, increment: int) -> bytes:
    return FRAME.pack(4 << 8 | WINDOW_UPDATE, 0, stream_id) + increment.to_bytes(4, "big")
