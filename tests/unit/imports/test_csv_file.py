"""Reading an uploaded import: encoding, delimiter, RFC 4180 quoting, row numbers, and every
way a file is refused as a whole (with the status and the row or column named)."""

from __future__ import annotations

import codecs

import pytest

from shared.imports.csv_file import ImportFile, read_import_file
from shared.imports.problems import MAX_REPORTED, ImportRejected, Problem


def read(text: str | bytes, *, max_rows: int = 100) -> ImportFile:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return read_import_file(data, max_rows=max_rows)


def refused(text: str | bytes, *, max_rows: int = 100) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        read(text, max_rows=max_rows)
    return caught.value


def cells(upload: ImportFile) -> list[tuple[int, tuple[str, ...]]]:
    return [(row.number, row.cells) for row in upload.rows]


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_the_delimiter_comes_from_the_header_line(delimiter: str) -> None:
    other = ";" if delimiter == "," else ","
    text = f"id{delimiter}metadata.store\r\nP-1{delimiter}a{other}b\r\n"
    upload = read(text)
    assert upload.header == ("id", "metadata.store")
    assert cells(upload) == [(2, ("P-1", f"a{other}b"))]


def test_quoted_cells_hold_delimiters_quotes_and_line_breaks() -> None:
    text = 'id,metadata.note\r\nP-1,"a,b"\r\nP-2,"say ""hi"""\r\nP-3,"two\r\nlines"\r\nP-4,\r\n'
    assert cells(read(text)) == [
        (2, ("P-1", "a,b")),
        (3, ("P-2", 'say "hi"')),
        (4, ("P-3", "two\r\nlines")),
        (5, ("P-4", "")),
    ]


def test_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    # A quoted line break stays in its row; blank lines and all-empty rows are skipped but
    # keep their numbers, so row 6 is the sixth row of the sheet.
    text = 'id,metadata.note\nP-1,"a\nb"\n\n,\nP-2,x\nP-3,y'
    assert [number for number, _ in cells(read(text))] == [2, 5, 6]


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_any_line_ending(ending: str) -> None:
    text = ending.join(["id,metadata.a", "P-1,1", "P-2,2"]) + ending
    assert cells(read(text)) == [(2, ("P-1", "1")), (3, ("P-2", "2"))]


def test_a_byte_order_mark_is_dropped() -> None:
    upload = read(codecs.BOM_UTF8 + "id;metadata.ville\nP-1;Besançon\n".encode())
    assert upload.header == ("id", "metadata.ville")
    assert cells(upload) == [(2, ("P-1", "Besançon"))]


def test_text_that_is_not_utf8_is_400_naming_the_byte_and_line() -> None:
    latin1 = "id,metadata.ville\nP-1,Besançon\n".encode("latin-1")
    rejected = refused(latin1)
    assert rejected.status == 400
    offset = latin1.index(b"\xe7")
    assert rejected.problems == [
        Problem("file", f"is not UTF-8: byte {offset} (line 2) is 0xE7; save the file as CSV UTF-8")
    ]
    utf16 = refused("id,metadata.a\n".encode("utf-16"))
    assert utf16.status == 400 and utf16.problems[0].field == "file"


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ('id,metadata.a\nP-1,"open\n', "row 2", "a quoted cell is not closed"),
        ('id,metadata.a\nP-1,ok\nP-2,"x"y\n', "row 3", "a quoted cell must be followed by"),
        ('id,metadata.a\nP-1,"x" \n', "row 2", "a quoted cell must be followed by"),
        ("id,metadata.a\nP-1,1\nP-2," + "x" * 131_073, "row 3", "a cell is longer than 131072"),
    ],
)
def test_unreadable_csv_is_400_naming_the_row(text: str, field: str, reason: str) -> None:
    rejected = refused(text)
    assert rejected.status == 400
    assert rejected.problems[0].field == field
    assert rejected.problems[0].reason.startswith(reason)


def test_ragged_rows_are_422_each_named() -> None:
    rejected = refused("id,metadata.a\nP-1,1\nP-2\nP-3,3,3\n")
    assert rejected.status == 422
    assert rejected.problems == [
        Problem("row 3", "has 1 cells; the header has 2"),
        Problem("row 4", "has 3 cells; the header has 2"),
    ]


def test_a_long_list_of_problems_is_cut() -> None:
    rejected = refused("id,metadata.a\n" + "P,1,1\n" * (MAX_REPORTED + 5))
    assert len(rejected.problems) == MAX_REPORTED + 1
    assert rejected.problems[-1] == Problem("file", "5 more problems not listed")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", Problem("file", "is empty")),
        ("\r\n \r\n", Problem("file", "is empty")),
        (
            "\nid,metadata.a\nP-1,1\n",
            Problem("row 1", "is empty: the first row must be the header"),
        ),
        ("id,metadata.a\r\n", Problem("file", "has no rows to import")),
        ("id,metadata.a\r\n,\r\n\r\n", Problem("file", "has no rows to import")),
        (
            "id;metadata.a,b\nP;1\n",
            Problem("row 1", "mixes ',' and ';': separate the cells with one of them"),
        ),
    ],
)
def test_files_without_rows_or_with_an_ambiguous_header_are_422(
    text: str, problem: Problem
) -> None:
    rejected = refused(text)
    assert (rejected.status, rejected.problems) == (422, [problem])


def test_more_rows_than_the_cap_is_422() -> None:
    text = "id,metadata.a\n" + "".join(f"P-{n},1\n" for n in range(4))
    assert len(read(text, max_rows=4).rows) == 4
    rejected = refused(text + "P-5,1\n", max_rows=4)
    assert (rejected.status, rejected.problems) == (
        422,
        [Problem("file", "has more than 4 rows to import")],
    )


def test_header_problems_name_the_column() -> None:
    rejected = refused("id,metadata.store,store\nP-1,1,2\n")
    assert rejected.status == 422
    assert rejected.problems[0].field == "row 1, column 3"
