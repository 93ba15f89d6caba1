"""Batches of accepted rows round-trip their cells exactly; the results download is RFC 4180
CSV that a spreadsheet cannot take for formulas, with unprocessed rows named."""

from __future__ import annotations

import csv
import io

from shared.imports.csv_file import Row
from shared.imports.packing import cells_of, pack
from shared.imports.results import NOT_RUN, results_csv, safe_cell

ROWS = [
    Row(2, ("P-1", "plain", "")),
    Row(3, ("P-2", "a,b", 'say "hi"')),
    Row(5, ("P-3", "two\r\nlines", "'=x")),
    Row(6, ("", " spaced ", "\r")),
]


def test_batches_keep_row_numbers_and_cells_exactly() -> None:
    batches = pack(ROWS, rows_per_batch=3)
    assert [(b.index, b.rows) for b in batches] == [(0, (2, 3, 5)), (1, (6,))]
    unpacked = [tuple(cells) for batch in batches for cells in cells_of(batch.text)]
    assert unpacked == [row.cells for row in ROWS]


def test_batches_also_close_on_size() -> None:
    rows = [Row(n, ("P", "x" * 100)) for n in range(2, 12)]
    batches = pack(rows, rows_per_batch=100, text_per_batch=250)
    assert [len(b.rows) for b in batches] == [3, 3, 3, 1]


def parse(lines: list[str]) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(lines), newline=""), strict=True))


def test_results_in_file_order_with_unprocessed_rows_named() -> None:
    batches = [
        {"rows": [2, 3], "results": [
            {"row": 2, "passId": "P-1", "status": "succeeded", "error": None},
            {"row": 3, "passId": None, "status": "failed", "error": "no pass matches id.crm"},
        ]},
        {"rows": [5, 6]},
    ]  # fmt: skip
    running = parse(list(results_csv(batches, "running")))
    assert running == [
        ["row", "passId", "status", "error"],
        ["2", "P-1", "succeeded", ""],
        ["3", "", "failed", "no pass matches id.crm"],
        ["5", "", "pending", ""],
        ["6", "", "pending", ""],
    ]
    assert parse(list(results_csv(batches, "cancelled")))[3:] == [
        ["5", "", "cancelled", ""],
        ["6", "", "cancelled", ""],
    ]
    assert parse(list(results_csv(batches, "failed")))[3] == ["5", "", "failed", NOT_RUN]
    lines = list(results_csv(batches, "running"))
    assert all(line.endswith("\r\n") for line in lines)


def test_formula_looking_cells_get_an_apostrophe() -> None:
    for text in ('=HYPERLINK("x")', "+1", "-abc", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    for text in ("abc", "1", "", "'x", " =x"):
        assert safe_cell(text) == text
    batches = [{"rows": [2], "results": [
        {"row": 2, "passId": "-dash", "status": "failed", "error": '=cmd|" /C calc"!A0, more'},
    ]}]  # fmt: skip
    assert parse(list(results_csv(batches, "completed")))[1] == [
        "2",
        "'-dash",
        "failed",
        '\'=cmd|" /C calc"!A0, more',
    ]
