"""Plain-HTTP JSON control surface of the fake APNs server, and a client for it.

Lets end-to-end tests whose worker runs in another process ask which tokens got a push
and inject failures. Routes (all JSON):

- ``GET /pushes[?token=T]`` -> ``{"pushes": [{token, topic, time, connection, apns_id}]}``
- ``GET /stats`` -> ``{connections_total, connections_open, requests, pushes}``
- ``POST /configure`` with ``{"unregistered": [...], "fail_first": [{token, count, status}],
  "error_rate": 0.1, "error_statuses": [503], "goaway_after": N}`` (any subset)
- ``POST /reset`` forget pushes, faults and counters
- ``POST /drop`` abort every client connection
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from dev.fake_apns.server import FakeApnsServer

_MAX_BODY = 1 << 20


def _route(server: FakeApnsServer, method: str, target: str, body: bytes) -> tuple[int, Any]:
    url = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(url.query)
    state = server.state
    match method, url.path:
        case "GET", "/pushes":
            token = query.get("token", [None])[0]
            return 200, {"pushes": [p.to_json() for p in state.pushes(token)]}
        case "GET", "/stats":
            return 200, state.stats()
        case "POST", "/configure":
            state.configure(json.loads(body or b"{}"))
            return 200, {}
        case "POST", "/reset":
            state.reset()
            return 200, {}
        case "POST", "/drop":
            server.drop_connections()
            return 200, {}
    return 404, {"error": "no such route"}


async def _handle(
    server: FakeApnsServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        body = await reader.readexactly(length) if length else b""
        try:
            status, payload = _route(server, method, target, body)
        except (ValueError, KeyError, TypeError) as err:
            status, payload = 400, {"error": str(err)}
        data = json.dumps(payload).encode()
        phrase = HTTPStatus(status).phrase
        writer.write(
            f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
        pass  # malformed or vanished control client: nothing to answer
    finally:
        writer.close()


async def start_control_server(server: FakeApnsServer, host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _handle(server, reader, writer)

    return await asyncio.start_server(handle, host, port)


class FakeApnsControl:
    """Synchronous client of the control surface, e.g. ``FakeApnsControl(
    "http://127.0.0.1:PORT").pushed_tokens()``."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        if not base_url.startswith("http://"):
            raise ValueError("the control surface is plain http")
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    def _call(self, method: str, path: str, document: Any = None) -> Any:
        data = None if document is None else json.dumps(document).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self._base + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
            return json.loads(response.read())

    def pushes(self, token: str | None = None) -> list[dict[str, Any]]:
        path = "/pushes" if token is None else "/pushes?" + urllib.parse.urlencode({"token": token})
        return cast(list[dict[str, Any]], self._call("GET", path)["pushes"])

    def pushed_tokens(self) -> set[str]:
        return {push["token"] for push in self.pushes()}

    def stats(self) -> dict[str, int]:
        return cast(dict[str, int], self._call("GET", "/stats"))

    def configure(self, **options: Any) -> None:
        self._call("POST", "/configure", options)

    def reset(self) -> None:
        self._call("POST", "/reset", {})

    def drop_connections(self) -> None:
        self._call("POST", "/drop", {})
