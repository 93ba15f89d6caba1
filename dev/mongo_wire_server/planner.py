"""Choose candidate documents for a query from the hash indexes instead of scanning.

Usable conditions are equality (`{f: v}`, `{f: {$eq: v}}`) and `{f: {$in: [...]}}` on `_id` or on
any field of a created index, at the top level, inside `$and` (smallest wins) or in every branch
of an `$or` (union). Candidates are a superset of the matches; the full query still decides.

When the winning condition is a top-level equality/$in on plain scalars, a candidate whose value
at that path is a plain scalar in the wanted set provably satisfies it, so only the rest of the
query (the residual) needs mongomock; that keeps `_id $in [500 ids]` from costing 500 x 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bson import ObjectId, Regex

from .keys import Key, canonical_key, split_path
from .storage import CollectionStore

Candidates = set[Key] | frozenset[Key]
_PLAIN_SCALARS: Final = frozenset({str, int, float, bool, ObjectId})
_REGEX_TYPES: Final = frozenset({re.Pattern, Regex})


@dataclass(frozen=True, slots=True)
class ProvenCondition:
    """`path` equals one of `values`, checked without mongomock for simple document shapes.
    Values are kept with whether they are booleans: Python has `True == 1`, MongoDB does not
    match `true` with `1` (while `1` and `1.0` are equal in both)."""

    parts: tuple[str, ...]
    values: frozenset[tuple[bool, Any]]

    def holds(self, document: Any) -> bool:
        node = document
        for part in self.parts:
            if type(node) is not dict or part not in node:
                return False
            node = node[part]
        return type(node) in _PLAIN_SCALARS and (type(node) is bool, node) in self.values


@dataclass(slots=True)
class QueryPlan:
    candidates: list[Key] | None  # in natural order; None means scan the collection
    members: Candidates | None = None  # the same ids as a set, for membership tests
    proven: ProvenCondition | None = None
    residual: Mapping[str, Any] | None = None  # the query minus the proven condition
    # The residual's own plain equalities (e.g. the tenant, a metadata value), checked without
    # mongomock first; `rest` is what is left of it then (None: nothing).
    also: tuple[ProvenCondition, ...] = ()
    rest: Mapping[str, Any] | None = None

    @property
    def is_whole_query_proven(self) -> bool:
        """The query is just the proven condition: it is valid and needs no matcher."""
        return self.proven is not None and self.residual is None


_SCAN: Final = QueryPlan(None)


def plan_query(
    query: Mapping[str, Any], collection: CollectionStore, *, natural_order: bool = True
) -> QueryPlan:
    """natural_order=False: the caller walks ids in its own order and only tests membership,
    so the candidates are not sorted into natural order."""
    best: tuple[Candidates, str] | None = None
    for field, condition in query.items():
        found = _candidates_for(field, condition, collection)
        if found is not None and (best is None or len(found) < len(best[0])):
            best = (found, field)
        if best is not None and not best[0]:
            break
    if best is None:
        return _SCAN
    candidates, chosen = best
    ordered = collection.in_natural_order(candidates) if natural_order else list(candidates)
    if chosen.startswith("$"):
        return QueryPlan(ordered, candidates)
    proven = _provable(chosen, query[chosen])
    if proven is None:
        return QueryPlan(ordered, candidates)
    residual = {other: value for other, value in query.items() if other != chosen}
    also: list[ProvenCondition] = []
    rest: dict[str, Any] = {}
    for other, value in residual.items():
        provable = None if other.startswith("$") else _provable(other, value)
        if provable is None:
            rest[other] = value
        else:
            also.append(provable)
    return QueryPlan(ordered, candidates, proven, residual or None, tuple(also), rest or None)


def _candidates_for(field: str, condition: Any, collection: CollectionStore) -> Candidates | None:
    if field.startswith("$"):
        return _logical_candidates(field, condition, collection)
    values = _equality_values(condition)
    if values is None:
        return None
    keys = [canonical_key(value) for value in values]
    if field == "_id":
        return {key for key in keys if key in collection.documents}
    field_index = collection.field_indexes.get(field)
    if field_index is None:
        return None
    if len(keys) == 1:
        return field_index.lookup(keys[0])  # the index's own bucket: read, never modified
    found: set[Key] = set()
    for key in keys:
        found.update(field_index.lookup(key))
    return found


def _logical_candidates(
    operator: str, clauses: Any, collection: CollectionStore
) -> Candidates | None:
    if not isinstance(clauses, list) or not clauses:
        return None
    found = [_candidates_in(clause, collection) for clause in clauses]
    if operator == "$and":
        return _smallest(found)
    if operator != "$or" or any(branch is None for branch in found):
        return None
    return set().union(*(branch for branch in found if branch is not None))


def _candidates_in(query: Any, collection: CollectionStore) -> Candidates | None:
    if not isinstance(query, Mapping):
        return None
    return _smallest(
        [_candidates_for(field, condition, collection) for field, condition in query.items()]
    )


def _smallest(options: list[Candidates | None]) -> Candidates | None:
    usable = [option for option in options if option is not None]
    return min(usable, key=len) if usable else None


def _equality_values(condition: Any) -> list[Any] | None:
    """The values an equality-like condition accepts, or None if it is not one."""
    values: Any = [condition]
    if condition == {}:
        return None  # mongomock treats an empty condition as "match anything"
    if isinstance(condition, dict):
        operators = [key for key in condition if isinstance(key, str) and key.startswith("$")]
        if operators and len(operators) != len(condition):
            values = None  # mixes operators and fields: let the matcher report it
        elif "$eq" in condition:
            values = [condition["$eq"]]
        elif operators:
            values = condition.get("$in")  # None for any other operator
    if not isinstance(values, list) or any(_is_regex(value) for value in values):
        return None
    return values


def _provable(field: str, condition: Any) -> ProvenCondition | None:
    if isinstance(condition, dict):
        if list(condition) == ["$eq"]:
            values = [condition["$eq"]]
        elif list(condition) == ["$in"] and isinstance(condition["$in"], list):
            values = condition["$in"]
        else:
            return None
    else:
        values = [condition]
    if not all(type(value) in _PLAIN_SCALARS for value in values):
        return None
    return ProvenCondition(
        split_path(field), frozenset((type(value) is bool, value) for value in values)
    )


def _is_regex(value: Any) -> bool:
    return type(value) in _REGEX_TYPES
