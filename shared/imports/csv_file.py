"""Reading an uploaded import file, all of it, before anything is stored.

UTF-8 (a byte order mark is dropped), RFC 4180 as Python's csv module reads it in strict
mode (a quoted cell may hold the delimiter, `""` and line breaks, and must be followed by the
delimiter or the end of the line; CRLF, LF or CR end a row), with the delimiter `,` or `;`
taken from the header line. Rows are numbered as a spreadsheet numbers them: the header is
row 1. Blank lines, and rows whose cells are all empty (what spreadsheets leave at the end),
are not rows to import; every other row has as many cells as the header.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from typing import Final

from shared.imports.columns import HEADER_ROW, Columns, read_header
from shared.imports.problems import ImportRejected, Problem, row_field

DELIMITERS: Final = (",", ";")
_LINE_BREAK: Final = re.compile(r"[\r\n]")  # what ends a row for the csv module


@dataclass(frozen=True)
class Row:
    number: int  # in the file, the header being row 1
    cells: tuple[str, ...]


@dataclass(frozen=True)
class ImportFile:
    header: tuple[str, ...]
    columns: Columns
    rows: tuple[Row, ...]


def read_import_file(data: bytes, *, max_rows: int) -> ImportFile:
    """The header and rows of `data`, or ImportRejected naming what is wrong."""
    text = _decode(data)
    if not text.strip():
        raise ImportRejected(422, "The file is empty.", [Problem("file", "is empty")])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    number = 0
    try:
        header = next(reader, [])
        number = HEADER_ROW
        if not any(header):
            reason = "is empty: the first row must be the header"
            raise ImportRejected(
                422, "The file has no header row.", [Problem(row_field(1), reason)]
            )
        columns = read_header(header)
        rows: list[Row] = []
        problems: list[Problem] = []
        for number, cells in enumerate(reader, start=HEADER_ROW + 1):
            if not any(cells):
                continue
            if len(cells) != columns.width:
                reason = f"has {len(cells)} cells; the header has {columns.width}"
                problems.append(Problem(row_field(number), reason))
            elif len(rows) == max_rows:
                reason = f"has more than {max_rows} rows to import"
                raise ImportRejected(422, "The file has too many rows.", [Problem("file", reason)])
            else:
                rows.append(Row(number, tuple(cells)))
    except csv.Error as exc:
        raise ImportRejected(
            400, "The file is not valid CSV.", [Problem(row_field(number + 1), _csv_reason(exc))]
        ) from None
    if problems:
        raise ImportRejected(422, "Some rows do not match the header.", problems)
    if not rows:
        raise ImportRejected(
            422, "The file has no rows.", [Problem("file", "has no rows to import")]
        )
    return ImportFile(header=tuple(header), columns=columns, rows=tuple(rows))


def _decode(data: bytes) -> str:
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        line = data[:offset].count(b"\n") + 1
        reason = (
            f"is not UTF-8: byte {offset} (line {line}) is 0x{data[offset]:02X}; "
            "save the file as CSV UTF-8"
        )
        raise ImportRejected(
            400, "The file is not UTF-8 text.", [Problem("file", reason)]
        ) from None


def _delimiter(text: str) -> str:
    """`;` when the header line has semicolons and no commas, else `,`. Column names hold
    neither, so the header line tells unambiguously, unless it mixes them."""
    header_line = _LINE_BREAK.split(text, maxsplit=1)[0]
    found = [d for d in DELIMITERS if d in header_line]
    if len(found) > 1:
        reason = "mixes ',' and ';': separate the cells with one of them"
        raise ImportRejected(422, "The header row is ambiguous.", [Problem(row_field(1), reason)])
    return found[0] if found else DELIMITERS[0]


_CSV_REASONS: Final = (
    ("expected after", "a quoted cell must be followed by the delimiter or the end of the line"),
    ("unexpected end of data", "a quoted cell is not closed before the end of the file"),
    ("field larger than field limit", "a cell is longer than {limit} characters"),
)


def _csv_reason(exc: csv.Error) -> str:
    message = str(exc)
    for fragment, reason in _CSV_REASONS:
        if fragment in message:
            return reason.format(limit=csv.field_size_limit())
    return message
