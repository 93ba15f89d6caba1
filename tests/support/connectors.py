"""The connectors' test side: the secrets the demo connectors read, a signer for each auth
scheme, and the "tool" that receives outbound deliveries (503 to each delivery's first
attempt, 200 after, every signature checked)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from shared.connectors.auth import (
    HUBSPOT_SIGNATURE_HEADER,
    HUBSPOT_TIMESTAMP_HEADER,
    hubspot_v3_signature,
)
from shared.webhooks.signing import InvalidSignature, verify

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "connectors"
SECRET_HEADER = "X-Passwire-Connector-Secret"
# What config/tenants/demo/connectors/*.toml read, set before any process loads the tenants.
CONNECTOR_ENV = {
    "KLAVIYO_CONNECTOR_SECRET": "klaviyo-tests-" + secrets.token_hex(8),
    "BRAZE_CONNECTOR_SECRET": "braze-tests-" + secrets.token_hex(8),
    "HUBSPOT_CLIENT_SECRET": "hubspot-tests-" + secrets.token_hex(8),
    "HUBSPOT_OUTBOUND_SECRET": "hubspot-out-tests-" + secrets.token_hex(8),
}


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hubspot_headers(
    secret: str, method: str, uri: str, body: bytes, *, at_ms: int | None = None
) -> dict[str, str]:
    timestamp = str(at_ms if at_ms is not None else int(time.time() * 1000))
    return {
        "Content-Type": "application/json",
        HUBSPOT_SIGNATURE_HEADER: hubspot_v3_signature(secret, method, uri, body, timestamp),
        HUBSPOT_TIMESTAMP_HEADER: timestamp,
    }


@dataclass
class ToolRequest:
    path: str
    headers: dict[str, str]
    body: Any
    verified: bool
    status: int


@dataclass
class ToolReceiver:
    url: str = ""
    requests: list[ToolRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        try:
            verify(CONNECTOR_ENV["HUBSPOT_OUTBOUND_SECRET"], headers.get("Passwire-Signature"), raw)
            verified = True
        except InvalidSignature:
            verified = False
        delivery = headers.get("Passwire-Delivery-Id")
        with self.lock:
            seen = [r for r in self.requests if r.headers.get("Passwire-Delivery-Id") == delivery]
            status = 401 if not verified else (503 if not seen else 200)
            self.requests.append(ToolRequest(path, headers, json.loads(raw), verified, status))
        return status

    def for_delivery(self, delivery_id: str) -> list[ToolRequest]:
        with self.lock:
            return [
                r for r in self.requests if r.headers.get("Passwire-Delivery-Id") == delivery_id
            ]


@contextmanager
def running_tool() -> Iterator[ToolReceiver]:
    state = ToolReceiver()

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
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
