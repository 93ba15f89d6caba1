"""A small HTTP/1.1 server protocol for asyncio: keep-alive, Content-Length bodies, requests
answered in order. Lean on purpose: the fake must take hundreds of requests per second from
several worker processes without the cost of a thread and a header parser per request.

The handler runs on the event loop; requests it marks as blocking (``offload``) run on a
thread instead, the connection reading nothing more until they are answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from dev.fake_google.errors import Reply

MAX_HEAD = 64 << 10
MAX_BODY = 8 << 20


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes


Handler = Callable[[HttpRequest], Reply]


class _BadRequest(Exception):
    pass


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    request_line, *lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(request_line)
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise _BadRequest(line)
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


def encode_reply(reply: Reply, keep_alive: bool) -> bytes:
    body = b"" if reply.body is None else json.dumps(reply.body).encode()
    lines = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}"]
    lines += [f"{name}: {value}" for name, value in reply.headers.items()]
    if body:
        lines.append("Content-Type: application/json; charset=UTF-8")
    lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Http1Protocol(asyncio.Protocol):
    def __init__(self, handler: Handler, offload: Callable[[HttpRequest], bool]) -> None:
        self._handler = handler
        self._offload = offload
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False  # a request is on a thread; later ones wait in the buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._process()

    def _process(self) -> None:
        while self._transport is not None and not self._busy:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    self._fail(431)
                return
            try:
                method, target, version, headers = _parse_head(bytes(self._buffer[:end]))
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    self._fail(411)  # every client of the fake sends Content-Length
                    return
                length = int(headers.get("content-length") or 0)
            except (_BadRequest, ValueError):
                self._fail(400)
                return
            if length > MAX_BODY:
                self._fail(413)
                return
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            connection = headers.get("connection", "").lower()
            keep_alive = (
                connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            )
            request = HttpRequest(method, target, headers, body)
            if self._offload(request):
                self._run_on_thread(request, keep_alive)
                return
            self._answer(self._handle(request), keep_alive)

    def _handle(self, request: HttpRequest) -> Reply:
        try:
            return self._handler(request)
        except Exception as err:  # a bug in the fake: answer it rather than drop the client
            return Reply(500, {"error": f"fake server error: {err!r}"})

    def _answer(self, reply: Reply, keep_alive: bool) -> None:
        if self._transport is None:
            return
        self._transport.write(encode_reply(reply, keep_alive))
        if not keep_alive:
            self._transport.close()
            self._transport = None

    def _fail(self, status: int) -> None:
        self._answer(Reply(status, {"error": HTTPStatus(status).phrase}), keep_alive=False)

    def _run_on_thread(self, request: HttpRequest, keep_alive: bool) -> None:
        assert self._transport is not None
        self._busy = True
        self._transport.pause_reading()
        task = asyncio.ensure_future(asyncio.to_thread(self._handle, request))

        def done(finished: asyncio.Future[Reply]) -> None:
            self._busy = False
            if finished.cancelled():  # the loop is shutting down
                return
            self._answer(finished.result(), keep_alive)
            if self._transport is not None:
                self._transport.resume_reading()
                self._process()

        task.add_done_callback(done)
