"""HPACK (RFC 7541) for APNs: the response decoder and our request header encoder."""

from __future__ import annotations

import contextlib
from collections import deque

from .frames import HEADER_LIST_LIMIT, HPACK_TABLE_SIZE
from .hpack_tables import STATIC_TABLE
from .huffman import HpackError, huffman_decode

__all__ = ["HpackDecoder", "HpackError", "RequestEncoder", "encode_int", "path_field_head"]


def encode_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """An integer with an N-bit prefix (RFC 7541 5.1); ``first`` holds the flag bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_str(data: bytes) -> bytes:
    """A string literal without Huffman coding: free to build, and the one literal sent
    per request (the token path) would shrink by only ~20 bytes."""
    return encode_int(len(data), 7) + data


def _read_int(data: bytes, pos: int, mask: int) -> tuple[int, int]:
    value = data[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise HpackError("integer too large")


def _read_str(data: bytes, pos: int) -> tuple[bytes, int]:
    huffman = data[pos] & 0x80
    length, pos = _read_int(data, pos, 0x7F)
    end = pos + length
    if end > len(data):
        raise HpackError("truncated string")
    raw = data[pos:end]
    return (huffman_decode(raw) if huffman else raw), end


class HpackDecoder:
    """RFC 7541 decoder state for one connection: static and dynamic table, Huffman.

    Every header block the server sends must go through it, in order, even for streams
    we no longer care about, or the dynamic table falls out of step."""

    def __init__(self) -> None:
        self._dynamic: deque[tuple[bytes, bytes]] = deque()
        self._size = 0
        self._max_size = HPACK_TABLE_SIZE

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        try:
            return self._decode(block)
        except IndexError:
            raise HpackError("truncated header block") from None

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        pos, end, total = 0, len(block), 0
        while pos < end:
            first = block[pos]
            if first & 0x80:  # indexed field
                index, pos = _read_int(block, pos, 0x7F)
                header = self._field(index)
            else:
                if first & 0x40:  # literal, incremental indexing
                    index, pos = _read_int(block, pos, 0x3F)
                elif first & 0x20:  # dynamic table size update
                    if headers:
                        raise HpackError("table size update after a header field")
                    size, pos = _read_int(block, pos, 0x1F)
                    if size > HPACK_TABLE_SIZE:
                        raise HpackError(f"table size {size} above our limit")
                    self._max_size = size
                    self._evict()
                    continue
                else:  # literal without indexing / never indexed
                    index, pos = _read_int(block, pos, 0x0F)
                if index:
                    name = self._field(index)[0]
                else:
                    name, pos = _read_str(block, pos)
                value, pos = _read_str(block, pos)
                header = (name, value)
                if first & 0x40:
                    self._insert(header)
            total += len(header[0]) + len(header[1]) + 32
            if total > HEADER_LIST_LIMIT:
                raise HpackError("header list too large")
            headers.append(header)
        return headers

    def _field(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        index -= len(STATIC_TABLE) + 1
        if 0 <= index < len(self._dynamic):
            return self._dynamic[index]
        raise HpackError(f"invalid table index {index}")

    def _insert(self, header: tuple[bytes, bytes]) -> None:
        size = len(header[0]) + len(header[1]) + 32
        if size > self._max_size:
            self._dynamic.clear()
            self._size = 0
            return
        self._dynamic.appendleft(header)
        self._size += size
        self._evict()

    def _evict(self) -> None:
        while self._size > self._max_size:
            name, value = self._dynamic.pop()
            self._size -= len(name) + len(value) + 32


# Request header field for the path: literal never indexed (RFC 7541 6.2.3) with the
# static name ``:path``. A unique value would only churn an HPACK table, and device
# tokens are identifiers that deserve the sensitive-header treatment.
_PATH_PREFIX = b"/3/device/"
_PATH_HEADS = [b"\x14" + encode_int(len(_PATH_PREFIX) + n, 7) + _PATH_PREFIX for n in range(201)]


def path_field_head(token_length: int) -> bytes:
    """The ``:path`` field up to the token (tokens are 1-200 hex digits)."""
    return _PATH_HEADS[token_length]


class RequestEncoder:
    """HPACK for our requests on one connection.

    The constant fields (``:authority``, ``apns-topic``, ``content-length``) go into the
    server's dynamic table on first use and cost a byte each afterwards: smaller requests,
    and far less decoding for the server (hpack, as in our fake server, needs ~50 µs more
    per request for the literals). ``:path`` is a never-indexed literal, so the table only
    ever holds what we put there and this mirror of it is exact. Header blocks built here
    must go out in the order they are built."""

    def __init__(self, authority: bytes, content_length: bytes) -> None:
        self._authority = authority
        self._content_length = content_length
        self._entries: deque[tuple[bytes, bytes]] = deque()  # newest first
        self._size = 0
        self._max_size = HPACK_TABLE_SIZE  # the protocol default until the server differs
        self._resize: tuple[int, int] | None = None  # (smallest, final) size to announce
        self._changed = False
        self._templates: dict[bytes, tuple[bytes, bytes]] = {}  # valid while entries stay

    def set_limit(self, setting: int) -> None:
        """The server's SETTINGS_HEADER_TABLE_SIZE (now acknowledged by us) changed."""
        size = min(setting, HPACK_TABLE_SIZE)
        if self._resize is not None:
            self._resize = (min(self._resize[0], size), size)
        elif size != self._max_size:
            self._resize = (size, size)
            self._templates.clear()  # the next block must start with the update

    def template(self, topic: bytes) -> tuple[bytes, bytes, bool]:
        """The header block before and after the path field, and whether the next request
        for ``topic`` may reuse it (not when this one changes the table)."""
        cached = self._templates.get(topic)
        if cached is not None:
            return cached[0], cached[1], True
        self._changed = False
        pre = (
            self._size_updates()
            + b"\x83"  # :method POST (static index 3)
            + b"\x87"  # :scheme https (static index 7)
            + self._field(b":authority", self._authority, 1)
        )
        post = self._field(b"apns-topic", topic, 0) + self._field(
            b"content-length", self._content_length, 28
        )
        if self._changed:
            self._templates.clear()
            return pre, post, False
        if len(self._templates) >= 64:
            self._templates.clear()
        self._templates[topic] = (pre, post)
        return pre, post, True

    def _size_updates(self) -> bytes:
        # RFC 7541 4.2: the smallest size since the last block, then the final one.
        if self._resize is None:
            return b""
        smallest, final = self._resize
        self._resize = None
        self._max_size = smallest
        self._evict()
        self._changed = True
        updates = encode_int(smallest, 5, 0x20)
        if final != smallest:
            self._max_size = final
            updates += encode_int(final, 5, 0x20)
        return updates

    def _field(self, name: bytes, value: bytes, static_name: int) -> bytes:
        entry = (name, value)
        with contextlib.suppress(ValueError):
            return encode_int(len(STATIC_TABLE) + 1 + self._entries.index(entry), 7, 0x80)
        size = len(name) + len(value) + 32
        if size * 4 > self._max_size:  # would crowd out the other entries: not indexed
            first, bits = 0x00, 4
        else:
            first, bits = 0x40, 6  # literal with incremental indexing
            self._entries.appendleft(entry)
            self._size += size
            self._evict()
            self._changed = True
        head = (
            encode_int(static_name, bits, first)
            if static_name
            else bytes([first]) + encode_str(name)
        )
        return head + encode_str(value)

    def _evict(self) -> None:
        while self._size > self._max_size:
            name, value = self._entries.pop()
            self._size -= len(name) + len(value) + 32
            self._changed = True
