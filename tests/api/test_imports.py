"""`POST /api/<tenantId>/imports` and `GET …/imports/<correlationId>/results.csv` without a
worker: a malformed file is refused up front naming the problem, with nothing written (no
operation, no stored rows, no job); an accepted one stores its rows and operation and queues
one job; the results belong to their tenant's import only."""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import io
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from api.app import create_app
from config.celery import BULK_QUEUE
from config.settings import Settings
from shared import operations
from shared.infra.ids import new_correlation_id
from tests.conftest import DEMO_KEY, RIVAL_KEY

URL = "/api/demo/imports"
KEY = {"X-API-Key": DEMO_KEY}
CSV = "text/csv"
GOOD = "id.crm,metadata.store,additionalData.points\r\nNO-SUCH-1,42,120\r\nNO-SUCH-2,7,\r\n"


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="module")
def small_app(settings: Settings) -> Any:
    """The app with small import limits: 1 KiB, 3 rows."""
    return create_app(dataclasses.replace(settings, max_import_bytes=1024, max_import_rows=3))


@pytest.fixture
def queue(broker_url: str) -> Any:
    return redis.Redis.from_url(broker_url)


@pytest.fixture
def accepted(db: Any) -> Iterator[list[str]]:
    """Correlation ids of imports a test accepted: cancelled afterwards, so a worker started
    by a later test skips them."""
    correlation_ids: list[str] = []
    yield correlation_ids
    for correlation_id in correlation_ids:
        with contextlib.suppress(operations.OperationNotCancellable):
            operations.request_cancel(db, "demo", correlation_id)


@pytest.fixture
def nothing_written(db: Any, queue: Any) -> Iterator[None]:
    def snapshot() -> tuple[int, ...]:
        return (
            db.operations.count_documents({}),
            db.import_batches.count_documents({}),
            db.passes.count_documents({}),
            db.idempotency_keys.count_documents({"state": {"$ne": "completed"}}),
            queue.llen(BULK_QUEUE),
        )

    before = snapshot()
    yield
    assert snapshot() == before


def post(client: Any, body: bytes | str, content_type: str | None = CSV, **headers: str) -> Any:
    data = body.encode() if isinstance(body, str) else body
    sent = {**KEY, **headers}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return client.post(URL, data=data, headers=sent)


def errors(response: Any) -> list[dict[str, str]]:
    body = response.get_json()
    assert set(body) == {"status", "code", "message", "errors"}, body
    assert body["status"] == response.status_code
    found: list[dict[str, str]] = body["errors"]
    return found


REFUSED = [
    # (body, status, field, start of the reason)
    (b"", 422, "file", "is empty"),
    ("id,metadata.a\r\n", 422, "file", "has no rows to import"),
    ("\r\nid,metadata.a\r\nP,1\r\n", 422, "row 1", "is empty: the first row must be the header"),
    ("id,metadata.a\r\nP,1\r\nQ\r\n", 422, "row 3", "has 1 cells; the header has 2"),
    ("id,metadata.a,color\r\nP,1,red\r\n", 422, "row 1, column 3", "unknown column 'color'"),
    ("id,metadata.a,metadata.a\r\nP,1,2\r\n", 422, "row 1, column 3", "'metadata.a' repeats"),
    ("metadata.a\r\n1\r\n", 422, "row 1", "needs an id or id.<system>.<key> column"),
    ("id,id.crm,metadata.a\r\nP,C,1\r\n", 422, "row 1", "has both id and id.<system>.<key>"),
    (
        "id.crm,id.email\r\nC,E\r\n",
        422,
        "row 1",
        "has no metadata.<key>, additionalData.<key> or consent",
    ),
    ("id;metadata.a,b\r\nP;1\r\n", 422, "row 1", "mixes ',' and ';'"),
    ('id,metadata.a\r\nP,"open\r\n', 400, "row 2", "a quoted cell is not closed"),
    ('id,metadata.a\r\nP,"x"y\r\n', 400, "row 2", "a quoted cell must be followed by"),
    ("id,metadata.ville\r\nP,Besançon\r\n".encode("latin-1"), 400, "file", "is not UTF-8"),
    ("id,metadata.a\r\n".encode("utf-16"), 400, "file", "is not UTF-8"),
]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(("body", "status", "field", "reason"), REFUSED)
def test_a_malformed_file_is_refused_up_front(
    client: Any, body: bytes | str, status: int, field: str, reason: str
) -> None:
    response = post(client, body)
    assert response.status_code == status, response.get_data(as_text=True)
    [error] = errors(response)
    assert error["field"] == field
    assert error["reason"].startswith(reason), error


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("application/json", "must be text/csv or multipart/form-data"),
        ("text/plain", "must be text/csv or multipart/form-data"),
        ("text/csv; charset=latin-1", "charset must be utf-8, not latin-1"),
        (None, "must be text/csv or multipart/form-data"),
    ],
)
def test_other_media_types_are_415(client: Any, content_type: str | None, reason: str) -> None:
    response = post(client, GOOD, content_type)
    assert response.status_code == 415
    assert errors(response) == [{"field": "Content-Type", "reason": reason}]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({}, "file", "missing"),
        (
            {"file": "id,metadata.a\r\nP,1\r\n"},
            "file",
            "send the CSV as one file part (with a filename)",
        ),
        ({"csv": (io.BytesIO(GOOD.encode()), "rows.csv")}, "csv", "unknown form field"),
        (
            {"file": (io.BytesIO(GOOD.encode()), "rows.csv"), "note": "x"},
            "note",
            "unknown form field",
        ),
    ],
)
def test_a_form_needs_exactly_its_file_part(
    client: Any, data: dict[str, Any], field: str, reason: str
) -> None:
    response = client.post(URL, data=data, headers=KEY, content_type="multipart/form-data")
    assert response.status_code == 422
    [error] = errors(response)
    assert (error["field"], error["reason"].split(";")[0]) == (field, reason)


@pytest.mark.usefixtures("nothing_written")
def test_the_import_limits_are_its_own(small_app: Any) -> None:
    client = small_app.test_client()
    too_large = "id,metadata.a\r\n" + "P,1\r\n" * 300
    response = post(client, too_large)
    assert response.status_code == 413
    assert errors(response) == [{"field": "body", "reason": "the request body is too large"}]
    four_rows = "id,metadata.a\r\n" + "P,1\r\n" * 4
    response = post(client, four_rows)
    assert response.status_code == 422
    assert errors(response) == [{"field": "file", "reason": "has more than 3 rows to import"}]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("key", "status"),
    [(RIVAL_KEY, 403), ("not-a-key", 401)],
)
def test_refused_callers_write_nothing(client: Any, key: str, status: int) -> None:
    response = post(client, GOOD, **{"X-API-Key": key})
    assert response.status_code == status


def stored_batches(db: Any, correlation_id: str) -> list[dict[str, Any]]:
    return list(db.import_batches.find({"correlationId": correlation_id}, sort=[("index", 1)]))


def test_an_accepted_file_stores_its_rows_and_queues_one_job(
    client: Any, db: Any, queue: Any, accepted: list[str]
) -> None:
    # Larger than the API's 64 KiB limit for JSON bodies, and with a BOM and semicolons.
    rows = "".join(f"NO-SUCH-{n};{n % 50};'{n:05d}\r\n" for n in range(4000))
    body = codecs.BOM_UTF8 + ("id.crm;metadata.store;additionalData.code\r\n" + rows).encode()
    assert len(body) > 64 * 1024
    queued = queue.llen(BULK_QUEUE)
    response = post(client, body)
    assert response.status_code == 202, response.get_data(as_text=True)
    correlation_id = response.get_json()["correlationId"]
    accepted.append(correlation_id)
    assert response.get_json() == {"correlationId": correlation_id, "rows": 4000}
    assert response.headers["Location"].endswith(f"/api/demo/operations/{correlation_id}")
    assert queue.llen(BULK_QUEUE) == queued + 1

    operation = db.operations.find_one({"_id": correlation_id})
    assert (operation["kind"], operation["status"], operation["tenant"]) == (
        "import",
        "queued",
        "demo",
    )
    assert operation["counters"]["total"] == 4000
    batches = stored_batches(db, correlation_id)
    assert operation["intent"] == {
        "header": ["id.crm", "metadata.store", "additionalData.code"],
        "batches": len(batches),
    }
    assert [b["index"] for b in batches] == list(range(40))
    assert [n for b in batches for n in b["rows"]] == list(range(2, 4002))
    first = next(csv.reader(io.StringIO(batches[0]["text"], newline="")))
    assert first == ["NO-SUCH-0", "0", "'00000"]  # cells as in the file, the mark included

    # Nothing ran yet: every row is pending.
    results = client.get(f"{URL}/{correlation_id}/results.csv", headers=KEY)
    assert results.status_code == 200
    assert results.mimetype == "text/csv"
    assert results.headers["Content-Disposition"] == (
        f'attachment; filename="import-{correlation_id}-results.csv"'
    )
    lines = list(csv.reader(io.StringIO(results.get_data(as_text=True), newline="")))
    assert lines[0] == ["row", "passId", "status", "error"]
    assert lines[1:3] == [["2", "", "pending", ""], ["3", "", "pending", ""]]
    assert len(lines) == 4001


def test_a_form_upload_is_accepted_too(client: Any, db: Any, accepted: list[str]) -> None:
    response = client.post(
        URL,
        data={"file": (io.BytesIO(GOOD.encode()), "rows.csv", "application/octet-stream")},
        headers=KEY,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    accepted.append(response.get_json()["correlationId"])
    assert response.get_json()["rows"] == 2


def test_an_idempotency_key_replays_the_first_answer(
    client: Any, db: Any, accepted: list[str]
) -> None:
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = post(client, GOOD, **key)
    assert first.status_code == 202
    accepted.append(first.get_json()["correlationId"])
    count = db.operations.count_documents({"kind": "import"})
    again = post(client, GOOD, **key)
    assert again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert db.operations.count_documents({"kind": "import"}) == count
    other = post(client, GOOD.replace("42", "43"), **key)
    assert other.status_code == 422
    assert errors(other)[0]["field"] == "Idempotency-Key"


def test_results_belong_to_their_tenants_import_only(
    client: Any, db: Any, accepted: list[str]
) -> None:
    response = post(client, GOOD)
    correlation_id = response.get_json()["correlationId"]
    accepted.append(correlation_id)
    path = f"/{correlation_id}/results.csv"
    assert client.get(URL + path, headers=KEY).status_code == 200

    rival = {"X-API-Key": RIVAL_KEY}
    assert client.get(URL + path, headers=rival).status_code == 403
    other_tenant = client.get(f"/api/rival/imports{path}", headers=rival)
    assert other_tenant.status_code == 404
    assert errors(other_tenant) == [{"field": "correlationId", "reason": "no such import"}]
    assert client.get(f"{URL}/{new_correlation_id()}/results.csv", headers=KEY).status_code == 404

    # An operation of another kind is not an import.
    created = operations.new_operation(
        correlation_id=new_correlation_id(), tenant_id="demo", kind="create", total=1, intent={}
    )
    operations.create(db, created)
    assert client.get(f"{URL}/{created['_id']}/results.csv", headers=KEY).status_code == 404


def test_an_import_whose_rows_are_gone_has_no_results(
    client: Any, db: Any, accepted: list[str]
) -> None:
    correlation_id = post(client, GOOD).get_json()["correlationId"]
    accepted.append(correlation_id)
    db.import_batches.delete_many({"correlationId": correlation_id})  # as the retention index
    response = client.get(f"{URL}/{correlation_id}/results.csv", headers=KEY)
    assert response.status_code == 404
    assert errors(response) == [{"field": "correlationId", "reason": "no results kept"}]


def test_operations_can_be_listed_by_the_import_kind(client: Any, accepted: list[str]) -> None:
    accepted.append(post(client, GOOD).get_json()["correlationId"])
    listed = client.get("/api/demo/operations?kind=import", headers=KEY)
    assert listed.status_code == 200
    assert {operation["kind"] for operation in listed.get_json()} == {"import"}
    assert accepted[-1] in {operation["correlationId"] for operation in listed.get_json()}
