"""Searching a tenant's passes: the filter and sort grammar of `GET /api/{tenantId}/passes`
and its translation into a MongoDB query. Pure functions, no I/O.

Filters (all combined with AND; repeating a filter ORs its values):

- `identifiers.<key>` / `identifiers.<system>.<key>`: the identifier equals the value.
- `metadata.<key>` / `metadata.<group>.<key>`: the value equals the given string, or the
  number it spells when it is a JSON number (`42`, `-1.5`, `1e3`): `metadata.store=42`
  matches both `"42"` and `42` (and `42.0`). Booleans and null are not matched.
- `passType`: one of the given pass types.
- `apple` / `google`: `installed` (providers.<wallet> is set) or `notInstalled` (null or
  missing).
- `barcode`: the rendered Apple pass shows this barcode message (a scan; nothing changes).

Sort fields (`-` for descending): `id`, `passType`, `creationDate`, `lastUpdateDate`, `apple`,
`google` (by install date; not installed first when ascending), `identifiers.<...>`,
`metadata.<...>`. Missing and null values sort first ascending, as MongoDB orders them, then
numbers, then strings. `_id` ends every sort, in the direction of the last key, so pages are
stable and the `(tenant, <field>, _id)` indexes serve single-key sorts in both directions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# A key segment; the same rule as the keys the API stores (api.fields.KEY_PATTERN).
SEGMENT: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
DATA_ROOTS: Final = ("identifiers", "metadata")
MAX_DATA_DEPTH: Final = 2  # identifiers and metadata nest one object level at most
MAX_VALUE_LENGTH: Final = 256
MAX_VALUES: Final = 100  # values of one repeated filter
MAX_SORT_KEYS: Final = 8
MAX_BARCODE_LENGTH: Final = 2048
INSTALL_STATES: Final = ("installed", "notInstalled")

SORT_FIELDS: Final[Mapping[str, str]] = {
    "id": "_id",
    "passType": "passType",
    "creationDate": "createdAt",
    "lastUpdateDate": "updatedAt",
    "apple": "providers.apple.installedAt",
    "google": "providers.google.installedAt",
}

# What public_view (shared/passes/documents.py) reads: never the token or the signed Apple
# files, which make up most of a stored pass.
LISTED_FIELDS: Final[Mapping[str, int]] = {
    name: 1
    for name in (
        "passType",
        "identifiers",
        "metadata",
        "additionalData",
        "providers",
        "status",
        "expirationDate",
        "balance.amount",
        "balance.unit",
        "balance.currency",
        "createdAt",
        "updatedAt",
    )
}

_JSON_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

Sort = list[tuple[str, int]]


class SearchError(ValueError):
    """A query parameter outside the grammar; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PassFilter:
    """What to match; paths are below `identifiers` / `metadata` (`crm`, `y2.customerId`)."""

    pass_types: tuple[str, ...] = ()
    identifiers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metadata: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    apple: bool | None = None  # True: installed, False: not installed, None: either
    google: bool | None = None
    barcode: str | None = None  # a scanned message: the rendered Apple pass shows it


def data_path(name: str) -> tuple[str, str] | None:
    """(`identifiers`|`metadata`, path below it) for such a parameter name, None for any
    other name; SearchError when it has the prefix but an invalid path."""
    root, dot, path = name.partition(".")
    if not dot or root not in DATA_ROOTS:
        return None
    segments = path.split(".")
    if len(segments) > MAX_DATA_DEPTH or not all(SEGMENT.fullmatch(s) for s in segments):
        raise SearchError(
            name,
            f"must be {root}.<key> or {root}.<key>.<key>, each key matching {SEGMENT.pattern}",
        )
    return root, path


def check_values(name: str, values: list[str]) -> tuple[str, ...]:
    if len(values) > MAX_VALUES:
        raise SearchError(name, f"at most {MAX_VALUES} values")
    for value in values:
        if not 1 <= len(value) <= MAX_VALUE_LENGTH:
            raise SearchError(name, f"values must be 1 to {MAX_VALUE_LENGTH} characters")
    return tuple(dict.fromkeys(values))


def parse_sort(raw: str) -> Sort:
    """`-lastUpdateDate,id` → [("updatedAt", -1), ("_id", 1)], without the tie-breaker."""
    sort: Sort = []
    for item in raw.split(","):
        name = item.strip()
        direction = 1
        if name.startswith("-"):
            name, direction = name[1:], -1
        path = SORT_FIELDS.get(name)
        if path is None:
            try:
                found = data_path(name)
            except SearchError:
                found = None
            if found is None:
                raise SearchError("sort", f"unknown sort field {item.strip()!r}")
            path = name
        if any(existing == path for existing, _ in sort):
            raise SearchError("sort", f"{name!r} is given twice")
        sort.append((path, direction))
    if len(sort) > MAX_SORT_KEYS:
        raise SearchError("sort", f"at most {MAX_SORT_KEYS} fields")
    return sort


def with_tie_breaker(sort: Sort) -> Sort:
    """The sort ending with `_id` (in the direction of the last key) unless it has it."""
    if any(path == "_id" for path, _ in sort):
        return list(sort)
    direction = sort[-1][1] if sort else 1
    return [*sort, ("_id", direction)]


def number_in(text: str) -> int | float | None:
    """The number a JSON-number string spells, if BSON can hold it; None otherwise."""
    match = _JSON_NUMBER.fullmatch(text)
    if match is None:
        return None
    if match.group(1) is None and match.group(2) is None:
        whole = int(text)
        return whole if _INT64_MIN <= whole <= _INT64_MAX else None
    number = float(text)
    return number if math.isfinite(number) else None


def _any_of(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else {"$in": values}


def metadata_values(values: tuple[str, ...]) -> list[Any]:
    """Each string, followed by the number it spells (if any)."""
    out: list[Any] = []
    for value in values:
        out.append(value)
        number = number_in(value)
        if number is not None:
            out.append(number)
    return out


def to_query(tenant_id: str, filters: PassFilter) -> dict[str, Any]:
    """The MongoDB filter: always scoped to `tenant_id`, whatever the filters say."""
    query: dict[str, Any] = {}
    if filters.pass_types:
        query["passType"] = _any_of(list(filters.pass_types))
    for path, values in filters.identifiers.items():
        query[f"identifiers.{path}"] = _any_of(list(values))
    for path, values in filters.metadata.items():
        query[f"metadata.{path}"] = _any_of(metadata_values(values))
    for wallet, installed in (("apple", filters.apple), ("google", filters.google)):
        if installed is not None:
            query[f"providers.{wallet}"] = {"$ne": None} if installed else None
    if filters.barcode is not None:
        # The (tenant, apple.barcodeMessages) index that redemption by barcode uses.
        query["apple.barcodeMessages"] = filters.barcode
    # Set last: no filter can replace the tenant.
    return {**query, "tenant": tenant_id}
