"""Why an uploaded file is refused as a whole: each problem names where (`file`, `row 7`,
`row 1, column 3`) and why, the way the API's error envelope names fields."""

from __future__ import annotations

from dataclasses import dataclass

# Enough to fix a file in one go without making a hostile file produce a huge answer.
MAX_REPORTED = 20


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


class ImportRejected(Exception):
    """The file is refused and nothing is stored. `status` is 400 when it cannot be read as
    UTF-8 CSV at all, 422 when it can but is not an import passwire can run."""

    def __init__(self, status: int, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = _bounded(problems)


def _bounded(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_REPORTED:
        return problems
    more = len(problems) - MAX_REPORTED
    return [*problems[:MAX_REPORTED], Problem("file", f"{more} more problems not listed")]


def row_field(row: int) -> str:
    return f"row {row}"


def cell_field(row: int, column_index: int) -> str:
    """Columns are numbered from 1, as a spreadsheet shows them."""
    return f"row {row}, column {column_index + 1}"


def quoted(text: str, limit: int = 80) -> str:
    """A name taken from the file, shown in a reason: quoted, and cut when long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
