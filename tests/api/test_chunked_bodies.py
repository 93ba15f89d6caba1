"""Bodies sent with `Transfer-Encoding: chunked` (no Content-Length) are held to the same
limits as the others, through a real HTTP server: over the limit is 413 with the error
envelope and nothing written; they were cut at the limit and taken as whole (an import lost
its last rows, a JSON body became "not valid JSON"). A body of exactly the limit is taken."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from api.app import create_app
from config.settings import Settings
from shared import operations
from tests.conftest import DEMO_KEY

LIMIT = 1024  # both the JSON limit and the import limit of the app under test


@pytest.fixture(scope="module")
def small_url(settings: Settings) -> Iterator[str]:
    """The API with 1 KiB limits, on a real port."""
    app = create_app(dataclasses.replace(settings, max_request_bytes=LIMIT, max_import_bytes=LIMIT))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def chunks(body: bytes, size: int = 100) -> Iterable[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


def post_chunked(base_url: str, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        connection.request(
            "POST",
            path,
            body=chunks(body),
            headers={"X-API-Key": DEMO_KEY, "Content-Type": content_type},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def csv_of_size(size: int) -> bytes:
    """A valid 2-row import of exactly `size` bytes (the last cell pads it)."""
    head = b"id.crm,metadata.note\r\nC-1,short\r\nC-2,"
    return head + b"x" * (size - len(head) - 2) + b"\r\n"


@pytest.fixture
def operations_count(db: Any) -> Iterator[Any]:
    yield lambda: db.operations.count_documents({"tenant": "demo"})


def test_a_chunked_import_over_the_limit_is_413_and_writes_nothing(
    small_url: str, db: Any, operations_count: Any
) -> None:
    before = operations_count()
    status, answer = post_chunked(
        small_url, "/api/demo/imports", csv_of_size(LIMIT + 1), "text/csv"
    )
    assert status == 413, answer
    assert answer["code"] == "payload_too_large"
    assert answer["errors"] == [{"field": "body", "reason": "the request body is too large"}]
    assert operations_count() == before


def test_a_chunked_import_of_exactly_the_limit_is_taken_whole(small_url: str, db: Any) -> None:
    status, answer = post_chunked(small_url, "/api/demo/imports", csv_of_size(LIMIT), "text/csv")
    assert status == 202, answer
    correlation_id = answer["correlationId"]
    try:
        operation = db.operations.find_one({"_id": correlation_id})
        assert operation["counters"]["total"] == 2, operation
    finally:
        with contextlib.suppress(operations.OperationNotCancellable):
            operations.request_cancel(db, "demo", correlation_id)


def test_a_chunked_json_body_over_the_limit_is_413(small_url: str, operations_count: Any) -> None:
    before = operations_count()
    body = json.dumps({"metadata": {"note": "x" * LIMIT}}).encode()
    status, answer = post_chunked(
        small_url, "/api/demo/passes?passType=loyalty", body, "application/json"
    )
    assert status == 413, answer
    assert answer["code"] == "payload_too_large"
    assert operations_count() == before
