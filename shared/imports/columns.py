"""The header row of an import: which columns name the pass and which ones patch it.

- `id`: the pass id; or `id.<key>` / `id.<system>.<key>`: external identifiers (every
  non-empty one of a row must match, as in `PATCH /passes?id.<system>.<key>=`). A file uses
  one way or the other, not both.
- `metadata.<key>` / `metadata.<group>.<key>` and `additionalData.<key>` (up to five keys
  deep): the values to merge, with the same key rules and depths as the JSON API.
- `consent.marketing`: the holder's marketing consent, `true` or `false` (empty: unchanged),
  recorded with source `import` in the pass's consent audit trail.

Each name once; a column may not be the parent of another (`metadata.a` with `metadata.a.b`:
one key cannot hold a value and nested keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from shared.imports.problems import ImportRejected, Problem, cell_field, quoted, row_field
from shared.passes.search import SEGMENT

HEADER_ROW: Final = 1
PASS_ID: Final = "id"
IDENTIFIERS: Final = "identifiers"
METADATA: Final = "metadata"
ADDITIONAL_DATA: Final = "additionalData"
CONSENT: Final = "consent"
CONSENT_MARKETING: Final = "consent.marketing"
# Keys below each root, at most (the JSON API's depths: api/passes/schemas.py).
MAX_KEYS: Final[Mapping[str, int]] = {IDENTIFIERS: 2, METADATA: 2, ADDITIONAL_DATA: 5}
MAX_COLUMNS: Final = 256
_KNOWN = "id, id.<system>.<key>, metadata.<key>, additionalData.<key> or consent.marketing"


@dataclass(frozen=True)
class Column:
    index: int  # position in the row, from 0
    name: str  # as written in the header
    root: str  # PASS_ID, IDENTIFIERS, METADATA, ADDITIONAL_DATA or CONSENT
    path: tuple[str, ...]  # keys below the root; empty for PASS_ID

    @property
    def names_the_pass(self) -> bool:
        return self.root in (PASS_ID, IDENTIFIERS)


@dataclass(frozen=True)
class Columns:
    lookup: tuple[Column, ...]  # `id`, or the `id.*` columns
    data: tuple[Column, ...]  # `metadata.*`, `additionalData.*` and `consent.marketing`
    width: int  # cells in every row


def read_header(names: Sequence[str]) -> Columns:
    """The columns of a header row; ImportRejected (422) naming each column at fault."""
    if len(names) > MAX_COLUMNS:
        too_many = f"has {len(names)} columns; at most {MAX_COLUMNS}"
        raise _rejected([Problem(row_field(HEADER_ROW), too_many)])
    problems: list[Problem] = []
    columns: list[Column] = []
    first_seen: dict[str, int] = {}
    for index, name in enumerate(names):
        column, reason = _column(index, name)
        if column is not None and name in first_seen:
            column, reason = None, f"{quoted(name)} repeats column {first_seen[name] + 1}"
        if reason is not None:
            problems.append(Problem(cell_field(HEADER_ROW, index), reason))
        elif column is not None:
            first_seen[name] = index
            columns.append(column)
    problems.extend(_nesting_conflicts(columns))
    if not problems:
        problems.extend(_kinds(columns))
    if problems:
        raise _rejected(problems)
    return Columns(
        lookup=tuple(c for c in columns if c.names_the_pass),
        data=tuple(c for c in columns if not c.names_the_pass),
        width=len(names),
    )


def _rejected(problems: list[Problem]) -> ImportRejected:
    return ImportRejected(422, "The header row is not a valid import header.", problems)


def _column(index: int, name: str) -> tuple[Column | None, str | None]:
    """The column a header name stands for, or why it stands for none."""
    if name == PASS_ID:
        return Column(index, name, PASS_ID, ()), None
    if name == CONSENT_MARKETING:
        return Column(index, name, CONSENT, ("marketing",)), None
    prefix, dot, rest = name.partition(".")
    root = IDENTIFIERS if prefix == PASS_ID else prefix
    if not dot or root not in MAX_KEYS:
        return None, f"unknown column {quoted(name)}: use {_KNOWN}"
    path = tuple(rest.split("."))
    if len(path) > MAX_KEYS[root] or not all(SEGMENT.fullmatch(key) for key in path):
        reason = (
            f"{quoted(name)}: at most {MAX_KEYS[root]} keys after {prefix!r}, each a letter "
            "then up to 63 letters, digits, '_' or '-'"
        )
        return None, reason
    return Column(index, name, root, path), None


def _nesting_conflicts(columns: Sequence[Column]) -> list[Problem]:
    by_path = {(c.root, c.path): c for c in columns if not c.names_the_pass}
    problems = []
    for column in by_path.values():
        for depth in range(1, len(column.path)):
            parent = by_path.get((column.root, column.path[:depth]))
            if parent is not None:
                reason = (
                    f"{quoted(column.name)} is inside column {parent.index + 1} "
                    f"({quoted(parent.name)}): a key cannot hold a value and nested keys"
                )
                problems.append(Problem(cell_field(HEADER_ROW, column.index), reason))
    return problems


def _kinds(columns: Sequence[Column]) -> list[Problem]:
    roots = {column.root for column in columns}
    where = row_field(HEADER_ROW)
    if PASS_ID in roots and IDENTIFIERS in roots:
        return [Problem(where, "has both id and id.<system>.<key> columns: name passes one way")]
    if not roots & {PASS_ID, IDENTIFIERS}:
        return [Problem(where, "needs an id or id.<system>.<key> column naming each row's pass")]
    if not roots & {METADATA, ADDITIONAL_DATA, CONSENT}:
        reason = "has no metadata.<key>, additionalData.<key> or consent.marketing column to update"
        return [Problem(where, reason)]
    return []
