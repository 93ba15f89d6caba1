"""An import's results as CSV: `row,passId,status,error`, one line per row of the file, in
file order (RFC 4180: comma, CRLF, quoted where needed).

Rows of batches that have not run show `pending` while the import runs, `cancelled` once it
was cancelled, `failed` when it ended otherwise. A cell that a spreadsheet would read as a
formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`: a
pass id may start with `-`, and an error may quote what a template made of the file's values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from shared import operations
from shared.imports.rows import CANCELLED, FAILED, PENDING

HEADER: Final = ("row", "passId", "status", "error")
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
NOT_RUN: Final = "not processed: the import ended first"


def safe_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue()


def _unprocessed(status: str) -> tuple[str, str]:
    if status in operations.ACTIVE_STATUSES:
        return PENDING, ""
    if status == operations.CANCELLED:
        return CANCELLED, ""
    return FAILED, NOT_RUN


def results_csv(batches: Iterable[Mapping[str, Any]], operation_status: str) -> Iterator[str]:
    """The download, line by line, from the import's batches in order."""
    yield _line(HEADER)
    for batch in batches:
        results = batch.get("results")
        if results is None:
            status, error = _unprocessed(operation_status)
            for row in batch["rows"]:
                yield _line((str(row), "", status, error))
            continue
        for result in results:
            yield _line(
                (
                    str(result["row"]),
                    result["passId"] or "",
                    result["status"],
                    result["error"] or "",
                )
            )
