"""The header row: which names are columns, and the rules between them."""

from __future__ import annotations

import pytest

from shared.imports.columns import (
    ADDITIONAL_DATA,
    IDENTIFIERS,
    MAX_COLUMNS,
    METADATA,
    PASS_ID,
    read_header,
)
from shared.imports.problems import ImportRejected, Problem


def problems(names: list[str]) -> list[Problem]:
    with pytest.raises(ImportRejected) as caught:
        read_header(names)
    assert caught.value.status == 422
    return caught.value.problems


def test_lookup_and_data_columns() -> None:
    columns = read_header(
        ["id.crm", "id.y2.customerId", "metadata.store", "metadata.g.k", "additionalData.a.b.c.d.e"]
    )
    assert [(c.root, c.path, c.index) for c in columns.lookup] == [
        (IDENTIFIERS, ("crm",), 0),
        (IDENTIFIERS, ("y2", "customerId"), 1),
    ]
    assert [(c.root, c.path) for c in columns.data] == [
        (METADATA, ("store",)),
        (METADATA, ("g", "k")),
        (ADDITIONAL_DATA, ("a", "b", "c", "d", "e")),
    ]
    assert columns.width == 5
    by_id = read_header(["metadata.x", "id"])
    assert [(c.root, c.index) for c in by_id.lookup] == [(PASS_ID, 1)]


@pytest.mark.parametrize(
    ("names", "field", "reason"),
    [
        (["id", "Metadata.a"], "row 1, column 2", "unknown column 'Metadata.a'"),
        (["id", "metadata"], "row 1, column 2", "unknown column 'metadata'"),
        (["id", " metadata.a"], "row 1, column 2", "unknown column ' metadata.a'"),
        (["id", "metadata.a.b.c"], "row 1, column 2", "'metadata.a.b.c': at most 2 keys"),
        (
            ["id", "additionalData.a.b.c.d.e.f"],
            "row 1, column 2",
            "'additionalData.a.b.c.d.e.f': at most 5 keys",
        ),
        (["id.a.b.c", "metadata.a"], "row 1, column 1", "'id.a.b.c': at most 2 keys"),
        (["id", "metadata.1st"], "row 1, column 2", "'metadata.1st': at most 2 keys"),
        (["id", "metadata.a..b"], "row 1, column 2", "'metadata.a..b'"),
        (["id", "metadata.$where"], "row 1, column 2", "'metadata.$where'"),
        (["id", "metadata.a", "metadata.a"], "row 1, column 3", "'metadata.a' repeats column 2"),
        (
            ["id", "metadata.a", "metadata.a.b"],
            "row 1, column 3",
            "'metadata.a.b' is inside column 2",
        ),
        (
            ["id", "additionalData.a.b", "additionalData.a"],
            "row 1, column 2",
            "'additionalData.a.b' is inside column 3",
        ),
        (["id", "id.crm", "metadata.a"], "row 1", "has both id and id.<system>.<key> columns"),
        (["metadata.a"], "row 1", "needs an id or id.<system>.<key> column"),
        (
            ["id.crm"],
            "row 1",
            "has no metadata.<key>, additionalData.<key> or consent.marketing column",
        ),
    ],
)
def test_refused_headers_name_the_column_and_why(names: list[str], field: str, reason: str) -> None:
    found = problems(names)
    assert [p.field for p in found] == [field], found
    assert found[0].reason.startswith(reason), found[0].reason


def test_every_bad_column_is_named_at_once() -> None:
    found = problems(["id", "foo", "metadata.a", "bar"])
    assert [p.field for p in found] == ["row 1, column 2", "row 1, column 4"]


def test_long_names_are_cut_in_reasons() -> None:
    [problem] = problems(["id", "x" * 500])
    assert len(problem.reason) < 200


def test_too_many_columns() -> None:
    names = ["id", *(f"metadata.k{n}" for n in range(MAX_COLUMNS))]
    assert problems(names) == [Problem("row 1", f"has {MAX_COLUMNS + 1} columns; at most 256")]
