"""Import batches (`import_batches` collection): the rows of an import, stored before its job
is queued, and each row's result once its batch ran.

`_id` is `<correlationId>:<batch index>`. A batch's results are stored once (the first run
to finish wins; a re-delivered batch reads them back) in the same write that drops its rows'
cells: once applied, the file's personal identifiers are not kept. Everything goes after
RETENTION_S.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

Document = dict[str, Any]
COLLECTION = "import_batches"
RETENTION_S = 30 * 24 * 3600
_INSERT_CHUNK = 50  # documents per insert_many: each holds up to about 1 MB of rows


def batch_id(correlation_id: str, index: int) -> str:
    return f"{correlation_id}:{index:06d}"


def insert_batches(
    db: Database[Any],
    *,
    tenant_id: str,
    correlation_id: str,
    batches: Sequence[tuple[int, Sequence[int], str]],  # (index, row numbers, cells as CSV)
    now: datetime,
) -> None:
    documents = [
        {
            "_id": batch_id(correlation_id, index),
            "tenant": tenant_id,
            "correlationId": correlation_id,
            "index": index,
            "rows": list(rows),
            "text": text,
            "createdAt": now,
        }
        for index, rows, text in batches
    ]
    for start in range(0, len(documents), _INSERT_CHUNK):
        db[COLLECTION].insert_many(documents[start : start + _INSERT_CHUNK], ordered=True)


def delete_batches(db: Database[Any], tenant_id: str, correlation_id: str) -> None:
    db[COLLECTION].delete_many({"tenant": tenant_id, "correlationId": correlation_id})


def load_batch(db: Database[Any], correlation_id: str, index: int) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": batch_id(correlation_id, index)})
    return found


def store_results(
    db: Database[Any],
    correlation_id: str,
    index: int,
    *,
    results: Sequence[Mapping[str, Any]],
    delivery: Mapping[str, int],
    now: datetime,
) -> Document | None:
    """Store a batch's results unless a run stored them first; the batch as it now is."""
    stored: Document | None = db[COLLECTION].find_one_and_update(
        {"_id": batch_id(correlation_id, index), "results": None},
        {
            "$set": {"results": list(results), "delivery": dict(delivery), "ranAt": now},
            "$unset": {"text": ""},
        },
        return_document=ReturnDocument.AFTER,
    )
    return stored or load_batch(db, correlation_id, index)


def results_of(db: Database[Any], tenant_id: str, correlation_id: str) -> Iterator[Document]:
    """The import's batches in order, with their row numbers and results (no cells)."""
    cursor = db[COLLECTION].find(
        {"correlationId": correlation_id, "tenant": tenant_id},
        {"rows": 1, "results": 1},
        sort=[("index", 1)],
        batch_size=20,
    )
    with cursor:
        yield from cursor
