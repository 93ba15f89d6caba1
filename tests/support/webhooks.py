"""A webhook receiver on loopback for the tests: verifies every signature and answers by
the first path segment (/ok → 200, /reject → 400, /flaky → 500 twice per event, then 200)."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.webhooks.signing import InvalidSignature, verify

WEBHOOK_SECRET_ENV = "PASSWIRE_TEST_WEBHOOK_SECRET"
WEBHOOK_SECRET = "whsec-tests-only-" + secrets.token_hex(16)
# For the worker: the signing secret, and retries fast enough for a test.
WEBHOOK_TEST_ENV = {WEBHOOK_SECRET_ENV: WEBHOOK_SECRET, "PASSWIRE_WEBHOOK_RETRY_BASE_S": "0.2"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool


@dataclass
class Receiver:
    """Answers by the first path segment: /ok → 200, /reject → 400, /flaky → 500 to the
    first two requests of each event, then 200."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        try:
            verify(WEBHOOK_SECRET, headers.get("Passwire-Signature"), raw)
            verified = True
        except InvalidSignature:
            verified = False
        with self.lock:
            self.requests.append(Received(path, headers, json.loads(raw), verified))
            seen = sum(1 for r in self.requests if r.body["id"] == headers.get("Passwire-Event-Id"))
        if not verified:
            return 401
        behaviour = path.split("/")[1]
        if behaviour == "reject":
            return 400
        if behaviour == "flaky" and seen <= 2:
            return 500
        return 200

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.answer(self.path, dict(self.headers.items()), raw)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
