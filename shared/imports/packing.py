"""Accepted rows packed into the batches the job runs, stored before the job is queued.

A batch keeps its rows' numbers and their cells as CSV text of its own (comma, CRLF, quoted
where needed): about the size of the upload, where a document of cells per row would cost
several times the bytes of a file of short cells. The job reads the cells back with `cells_of`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from shared.imports.csv_file import Row

ROWS_PER_BATCH: Final = 100  # each row is a full update (read, render, sign, write, push)
TEXT_PER_BATCH: Final = 1024 * 1024  # characters: a batch document stays far below 16 MB


@dataclass(frozen=True)
class Batch:
    index: int
    rows: tuple[int, ...]  # row numbers in the file
    text: str  # the rows' cells, one CSV record each


def pack(
    rows: Sequence[Row],
    *,
    rows_per_batch: int = ROWS_PER_BATCH,
    text_per_batch: int = TEXT_PER_BATCH,
) -> list[Batch]:
    batches: list[Batch] = []
    numbers: list[int] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row.cells)
        numbers.append(row.number)
        if len(numbers) == rows_per_batch or buffer.tell() >= text_per_batch:
            batches.append(Batch(len(batches), tuple(numbers), buffer.getvalue()))
            numbers, buffer = [], io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
    if numbers:
        batches.append(Batch(len(batches), tuple(numbers), buffer.getvalue()))
    return batches


def cells_of(text: str) -> Iterator[list[str]]:
    """The rows of a stored batch, cells as they were in the file."""
    return csv.reader(io.StringIO(text, newline=""), strict=True)
