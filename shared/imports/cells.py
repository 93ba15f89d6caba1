"""One row's cells → which pass (a lookup) and what to merge into it (a JSON Merge Patch).

How a data cell (`metadata.*`, `additionalData.*`) reads:

| cell | becomes |
| --- | --- |
| empty | nothing: the key is left as it is |
| `null` | the key is removed |
| starts with `'` | the text after the apostrophe, as is (`'42`, `'null`, `'` for "") |
| a JSON number or `true`/`false`, in an `additionalData.*` column | that number or boolean |
| anything else | the text |

Metadata stays text: metadata filters match "42" and 42 alike, so typing would only change
what GET /passes shows. Identifier cells are matched as written; an empty one is not used.
A row that breaks a rule fails alone, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from shared.imports.columns import ADDITIONAL_DATA, CONSENT, PASS_ID, Column, Columns
from shared.passes.search import MAX_VALUE_LENGTH, number_in

# The JSON API's limit for a string value (api/fields.py MAX_STRING; a test keeps them equal).
MAX_TEXT: Final = 2048
TEXT_MARK: Final = "'"
REMOVE: Final = "null"
_BOOLEANS: Final = {"true": True, "false": False}
_UNCHANGED: Final = object()


class RowRejected(Exception):
    """This row cannot be applied; the message says why (it never repeats a cell's value)."""


@dataclass(frozen=True)
class RowUpdate:
    lookup: dict[str, str]  # {"_id": …} or {"identifiers.<path>": …}: every one must match
    patch: dict[str, Any]  # {"metadata": {…}, "additionalData": {…}}, as PATCH /passes takes


def row_update(columns: Columns, cells: Sequence[str]) -> RowUpdate:
    return RowUpdate(lookup=_lookup(columns.lookup, cells), patch=_patch(columns.data, cells))


def _lookup(columns: Sequence[Column], cells: Sequence[str]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for column in columns:
        value = cells[column.index]
        if not value:
            continue
        if len(value) > MAX_VALUE_LENGTH:
            raise RowRejected(f"{column.name}: longer than {MAX_VALUE_LENGTH} characters")
        key = "_id" if column.root == PASS_ID else "identifiers." + ".".join(column.path)
        lookup[key] = value
    if not lookup:
        names = ", ".join(column.name for column in columns)
        raise RowRejected(f"names no pass: {names} {'is' if len(columns) == 1 else 'are'} empty")
    return lookup


def _patch(columns: Sequence[Column], cells: Sequence[str]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for column in columns:
        if column.root == CONSENT:
            _consent(column, cells[column.index], patch)
            continue
        value = cell_value(cells[column.index], typed=column.root == ADDITIONAL_DATA)
        if value is _UNCHANGED:
            continue
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise RowRejected(f"{column.name}: longer than {MAX_TEXT} characters")
        node = patch.setdefault(column.root, {})
        for key in column.path[:-1]:
            node = node.setdefault(key, {})  # the header allows no column inside another
        node[column.path[-1]] = value
    return patch


def _consent(column: Column, text: str, patch: dict[str, Any]) -> None:
    """`consent.marketing`: true or false, recorded apart from the merge (shared/imports/rows)."""
    if not text:
        return
    if text not in _BOOLEANS:
        raise RowRejected(f"{column.name}: must be true or false")
    patch[CONSENT] = {"marketing": {"granted": _BOOLEANS[text]}}


def cell_value(text: str, *, typed: bool) -> Any:
    """What a data cell means (see the table above); `_UNCHANGED` for an empty cell."""
    if not text:
        return _UNCHANGED
    if text.startswith(TEXT_MARK):
        return text[len(TEXT_MARK) :]
    if text == REMOVE:
        return None
    if typed:
        if text in _BOOLEANS:
            return _BOOLEANS[text]
        number = number_in(text)  # int64 or finite: what BSON stores faithfully
        if number is not None:
            return number
    return text


def is_unchanged(value: Any) -> bool:
    return value is _UNCHANGED
