"""A row's cells → its lookup and merge patch: typed cells, the text mark, removal, limits."""

from __future__ import annotations

from typing import Any

import pytest

import api.fields
from shared.imports.cells import (
    MAX_TEXT,
    RowRejected,
    RowUpdate,
    cell_value,
    is_unchanged,
    row_update,
)
from shared.imports.columns import read_header
from shared.passes.search import MAX_VALUE_LENGTH


@pytest.mark.parametrize(
    ("text", "additional_data", "metadata"),
    [
        ("42", 42, "42"),
        ("-1.5", -1.5, "-1.5"),
        ("1e3", 1000.0, "1e3"),
        ("true", True, "true"),
        ("false", False, "false"),
        ("null", None, None),
        ("0042", "0042", "0042"),  # not a JSON number: a code keeps its zeros
        ("+1", "+1", "+1"),
        ("12.50", 12.5, "12.50"),
        ("'12.50", "12.50", "12.50"),
        ("'42", "42", "42"),
        ("'null", "null", "null"),
        ("'true", "true", "true"),
        ("'", "", ""),
        ("''x", "'x", "'x"),
        ("9223372036854775808", "9223372036854775808", "9223372036854775808"),  # > int64
        ("1e999", "1e999", "1e999"),  # not finite
        ("True", "True", "True"),
        (" 42", " 42", " 42"),
        ("Besançon", "Besançon", "Besançon"),
    ],
)
def test_cells_are_typed_in_additional_data_only(
    text: str, additional_data: Any, metadata: Any
) -> None:
    typed = cell_value(text, typed=True)
    assert typed == additional_data and type(typed) is type(additional_data)
    untyped = cell_value(text, typed=False)
    assert untyped == metadata and type(untyped) is type(metadata)


def test_an_empty_cell_leaves_the_key_alone() -> None:
    assert is_unchanged(cell_value("", typed=True))
    assert is_unchanged(cell_value("", typed=False))


def update(header: list[str], row: list[str]) -> RowUpdate:
    return row_update(read_header(header), row)


def test_a_row_becomes_a_lookup_and_a_nested_patch() -> None:
    header = [
        "id.crm",
        "id.y2.customerId",
        "metadata.store",
        "metadata.g.k",
        "additionalData.a.b",
        "additionalData.gone",
        "additionalData.same",
    ]
    found = update(header, ["C-1", "9", "42", "x", "7", "null", ""])
    assert found.lookup == {"identifiers.crm": "C-1", "identifiers.y2.customerId": "9"}
    assert found.patch == {
        "metadata": {"store": "42", "g": {"k": "x"}},
        "additionalData": {"a": {"b": 7}, "gone": None},
    }


def test_empty_identifier_cells_are_not_used_but_one_is_needed() -> None:
    header = ["id.crm", "id.email", "metadata.a"]
    assert update(header, ["", "a@b.c", "1"]).lookup == {"identifiers.email": "a@b.c"}
    with pytest.raises(RowRejected, match=r"^names no pass: id.crm, id.email are empty$"):
        update(header, ["", "", "1"])
    with pytest.raises(RowRejected, match=r"^names no pass: id is empty$"):
        update(["id", "metadata.a"], ["", "1"])
    assert update(["id", "metadata.a"], ["P-1", ""]) == RowUpdate({"_id": "P-1"}, {})


def test_limits_fail_the_row_naming_the_column_not_the_value() -> None:
    long_id = "C" * (MAX_VALUE_LENGTH + 1)
    with pytest.raises(RowRejected) as caught:
        update(["id.crm", "metadata.a"], [long_id, "1"])
    assert str(caught.value) == "id.crm: longer than 256 characters"
    with pytest.raises(RowRejected, match=r"^metadata\.a: longer than 2048 characters$"):
        update(["id", "metadata.a"], ["P-1", "x" * (MAX_TEXT + 1)])
    with pytest.raises(RowRejected, match=r"^additionalData\.a: longer than 2048 characters$"):
        update(["id", "additionalData.a"], ["P-1", "'" + "x" * (MAX_TEXT + 1)])
    assert update(["id", "metadata.a"], ["P-1", "x" * MAX_TEXT]).patch["metadata"]["a"]


def test_the_text_limit_is_the_json_apis() -> None:
    assert MAX_TEXT == api.fields.MAX_STRING
