"""MongoDB wire protocol framing: read OP_MSG / OP_QUERY requests, write OP_MSG / OP_REPLY replies.

OP_MSG carries every command of modern drivers. OP_QUERY is still used by pymongo for the very
first `isMaster` handshake, answered with OP_REPLY. Compression is never advertised in the
handshake, so OP_COMPRESSED never arrives; other legacy opcodes are refused.
"""

from __future__ import annotations

import itertools
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import bson

OP_REPLY: Final = 1
OP_QUERY: Final = 2004
OP_MSG: Final = 2013

MAX_MESSAGE_BYTES: Final = 48_000_000
_HEADER: Final = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_INT32: Final = struct.Struct("<i")
_UINT32: Final = struct.Struct("<I")
# OP_REPLY: responseFlags, cursorID, startingFrom, numberReturned
_REPLY_PREFIX: Final = struct.Struct("<iqii")
_CHECKSUM_PRESENT: Final = 1 << 0
_MORE_TO_COME: Final = 1 << 1
_KNOWN_FLAGS: Final = _CHECKSUM_PRESENT | _MORE_TO_COME | (1 << 16)  # 16: exhaustAllowed
_response_ids = itertools.count(1)


class ProtocolError(Exception):
    """The peer sent bytes that are not a message this server understands; drop the connection."""


@dataclass(frozen=True)
class Request:
    request_id: int
    opcode: int
    database: str
    command: dict[str, Any]
    expects_reply: bool


def read_request(sock: socket.socket) -> Request | None:
    """The next request on the connection, or None once the client has hung up."""
    header = _recv_exactly(sock, _HEADER.size)
    if header is None:
        return None
    length, request_id, _, opcode = _HEADER.unpack(header)
    if not _HEADER.size < length <= MAX_MESSAGE_BYTES:
        raise ProtocolError(f"invalid message length {length}")
    payload = _recv_exactly(sock, length - _HEADER.size)
    if payload is None:
        raise ProtocolError("connection closed in the middle of a message")
    if opcode == OP_MSG:
        return _parse_op_msg(request_id, payload)
    if opcode == OP_QUERY:
        return _parse_op_query(request_id, payload)
    raise ProtocolError(f"unsupported opcode {opcode}")


def encode_reply(request: Request, reply: Mapping[str, Any]) -> bytes:
    body = bson.encode(reply)
    if request.opcode == OP_QUERY:
        prefix = _REPLY_PREFIX.pack(0, 0, 0, 1)
        return _frame(request, OP_REPLY, prefix + body)
    return _frame(request, OP_MSG, _UINT32.pack(0) + b"\x00" + body)


def _frame(request: Request, opcode: int, payload: bytes) -> bytes:
    header = _HEADER.pack(
        _HEADER.size + len(payload), next(_response_ids), request.request_id, opcode
    )
    return header + payload


def _parse_op_msg(request_id: int, payload: bytes) -> Request:
    (flags,) = _UINT32.unpack_from(payload, 0)
    if flags & ~_KNOWN_FLAGS & 0xFFFF:
        raise ProtocolError(f"OP_MSG has unknown required flag bits set: {flags:#x}")
    end = len(payload) - (4 if flags & _CHECKSUM_PRESENT else 0)
    offset = 4
    body: dict[str, Any] | None = None
    sequences: dict[str, list[dict[str, Any]]] = {}
    while offset < end:
        kind = payload[offset]
        offset += 1
        if kind == 0:
            (size,) = _INT32.unpack_from(payload, offset)
            body = bson.decode(payload[offset : offset + size])
            offset += size
        elif kind == 1:
            (size,) = _INT32.unpack_from(payload, offset)
            section_end = offset + size
            name_end = payload.index(b"\x00", offset + 4)
            identifier = payload[offset + 4 : name_end].decode()
            sequences[identifier] = bson.decode_all(payload[name_end + 1 : section_end])
            offset = section_end
        else:
            raise ProtocolError(f"unknown OP_MSG section kind {kind}")
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    for identifier, documents in sequences.items():
        body[identifier] = documents  # document sequences are fields of the command
    database = body.pop("$db", "test")
    return Request(request_id, OP_MSG, str(database), body, not flags & _MORE_TO_COME)


def _parse_op_query(request_id: int, payload: bytes) -> Request:
    name_end = payload.index(b"\x00", 4)
    namespace = payload[4:name_end].decode()
    query_start = name_end + 1 + 8  # numberToSkip, numberToReturn
    (size,) = _INT32.unpack_from(payload, query_start)
    query = bson.decode(payload[query_start : query_start + size])
    database, _, collection = namespace.partition(".")
    if collection != "$cmd":
        raise ProtocolError(f"OP_QUERY is only supported for commands, not on {namespace}")
    if "$query" in query:  # a command wrapped together with read preference
        query = dict(query["$query"])
    return Request(request_id, OP_QUERY, database, query, True)


def _recv_exactly(sock: socket.socket, count: int) -> bytes | None:
    buffer = bytearray(count)
    view = memoryview(buffer)
    received = 0
    while received < count:
        chunk = sock.recv_into(view[received:], count - received)
        if chunk == 0:
            if received == 0:
                return None
            raise ProtocolError("connection closed in the middle of a message")
        received += chunk
    return bytes(buffer)
