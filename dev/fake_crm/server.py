"""A fake CRM on loopback, for tests and benchmarks of external data providers.

    GET  /customers/<id>              200 the customer's JSON record, 404 unknown, 503 failing,
                                      401 without `Authorization: Bearer <token>` (if set)
    POST /customers/batch             the batch form: {"ids": [...]} → 200 {"customers": {id:
                                      record}}, unknown ids left out; 503 when failing (the
                                      failure draw is per request) or when it names a fail_id
    GET  /customers?id=C-1&id=C-2     the same batch form, the ids as a repeated query parameter
    PUT  /_control/customers/<id>     store a record (the JSON body), 204
    DELETE /_control/customers/<id>   forget it, 204
    POST /_control/config             {"latency_ms": 1, "failure_rate": 0.0, "fail_ids": [...]}
    GET  /_control/stats              {"requests": n (single and batch), "failures": n,
                                      "customers": n, "batch_requests": n, "batch_sizes":
                                      [ids asked per batch request, oldest first, last 10,000]}
    POST /_control/reset              no customers, no latency, no failures, counters at 0

The control endpoints need no token (the server only listens on loopback by default).
HTTP/1.1 with keep-alive on a threaded server, fast enough for a benchmark.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

BATCH_SIZES_KEPT = 10_000


@dataclass
class CrmState:
    token: str | None = None
    latency_ms: float = 0.0
    failure_rate: float = 0.0
    fail_ids: set[str] = field(default_factory=set)
    customers: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    failures: int = 0
    batch_requests: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)

    def configure(
        self,
        *,
        latency_ms: float | None = None,
        failure_rate: float | None = None,
        fail_ids: list[str] | set[str] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            if latency_ms is not None:
                self.latency_ms = max(0.0, float(latency_ms))
            if failure_rate is not None:
                self.failure_rate = min(1.0, max(0.0, float(failure_rate)))
            if fail_ids is not None:
                self.fail_ids = {str(item) for item in fail_ids}
            return self.config()

    def config(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "failure_rate": self.failure_rate,
            "fail_ids": sorted(self.fail_ids),
        }

    def reset(self) -> None:
        with self.lock:
            self.latency_ms, self.failure_rate = 0.0, 0.0
            self.fail_ids, self.customers = set(), {}
            self.requests = self.failures = self.batch_requests = 0
            self.batch_sizes = []

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "failures": self.failures,
                "customers": len(self.customers),
                "batch_requests": self.batch_requests,
                "batch_sizes": list(self.batch_sizes),
            }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a benchmark makes thousands of requests

    def _send(self, status: int, body: Any = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if raw:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw:
            self.wfile.write(raw)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _segments(self) -> list[str]:
        path = self.path.split("?", 1)[0]
        return [unquote(segment) for segment in path.strip("/").split("/")]

    def do_GET(self) -> None:
        state = self.server.state
        segments = self._segments()
        if segments == ["_control", "stats"]:
            self._send(200, state.stats())
            return
        if segments == ["customers"]:
            query = self.path.partition("?")[2]
            self._batch(parse_qs(query).get("id", []))
            return
        if len(segments) != 2 or segments[0] != "customers":
            self._send(404, {"error": "not found"})
            return
        customer_id = segments[1]
        with state.lock:
            state.requests += 1
            latency, token = state.latency_ms, state.token
            failing = customer_id in state.fail_ids or (
                state.failure_rate > 0 and state.rng.random() < state.failure_rate
            )
            record = state.customers.get(customer_id)
            if failing:
                state.failures += 1
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            self._send(401, {"error": "unauthorized"})
            return
        if latency:
            time.sleep(latency / 1000)
        if failing:
            self._send(503, {"error": "unavailable"})
        elif record is None:
            self._send(404, {"error": "customer not found"})
        else:
            self._send(200, record)

    def _batch(self, ids: list[str]) -> None:
        """The batch form: the known customers among `ids`, keyed by id."""
        state = self.server.state
        with state.lock:
            state.requests += 1
            state.batch_requests += 1
            state.batch_sizes.append(len(ids))
            del state.batch_sizes[:-BATCH_SIZES_KEPT]
            latency, token = state.latency_ms, state.token
            failing = bool(state.fail_ids.intersection(ids)) or (
                state.failure_rate > 0 and state.rng.random() < state.failure_rate
            )
            found = {i: state.customers[i] for i in ids if i in state.customers}
            if failing:
                state.failures += 1
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            self._send(401, {"error": "unauthorized"})
            return
        if latency:
            time.sleep(latency / 1000)
        if failing:
            self._send(503, {"error": "unavailable"})
        else:
            self._send(200, {"customers": found})

    def do_PUT(self) -> None:
        segments = self._segments()
        if len(segments) == 3 and segments[:2] == ["_control", "customers"]:
            self.server.state.customers[segments[2]] = self._body()
            self._send(204)
        else:
            self._send(404, {"error": "not found"})

    def do_DELETE(self) -> None:
        segments = self._segments()
        if len(segments) == 3 and segments[:2] == ["_control", "customers"]:
            self.server.state.customers.pop(segments[2], None)
            self._send(204)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        segments = self._segments()
        if segments == ["customers", "batch"]:
            try:
                body = self._body()
            except ValueError:
                body = None
            ids = body.get("ids") if isinstance(body, dict) else None
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                self._send(400, {"error": "ids must be a list of strings"})
                return
            self._batch(ids)
        elif segments == ["_control", "config"]:
            body = self._body() or {}
            try:
                config = state.configure(
                    latency_ms=body.get("latency_ms"),
                    failure_rate=body.get("failure_rate"),
                    fail_ids=body.get("fail_ids"),
                )
            except (TypeError, ValueError, AttributeError):
                self._send(400, {"error": "invalid config"})
                return
            self._send(200, config)
        elif segments == ["_control", "reset"]:
            self._body()
            state.reset()
            self._send(204)
        else:
            self._send(404, {"error": "not found"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: CrmState) -> None:
        super().__init__(address, _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout) closed the connection: not worth a traceback.
        pass


class FakeCrm:
    """The fake CRM in this process: `start()`, then `url`; `stop()` when done."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        latency_ms: float = 0.0,
        failure_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.state = CrmState(token=token, rng=random.Random(seed))  # noqa: S311 (test failures, not crypto)
        self.state.configure(latency_ms=latency_ms, failure_rate=failure_rate)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake CRM first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeCrm:
        self._server = _Server(self._address, self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-crm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeCrm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def put_customer(self, customer_id: str, record: Any) -> None:
        with self.state.lock:
            self.state.customers[customer_id] = record

    def configure(
        self,
        *,
        latency_ms: float | None = None,
        failure_rate: float | None = None,
        fail_ids: list[str] | set[str] | None = None,
    ) -> dict[str, Any]:
        return self.state.configure(
            latency_ms=latency_ms, failure_rate=failure_rate, fail_ids=fail_ids
        )

    def reset(self) -> None:
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        """Requests answered so far (`batch_sizes`: the ids of each batch request)."""
        return self.state.stats()
