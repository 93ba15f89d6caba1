"""The `_id` index's order: a collection's ids ascending, for queries sorted by `_id`.

mongod answers `find(..., sort=[("_id", 1)], limit=n)` by walking its `_id` B-tree from the
query's bound and stopping after n matches; so does this, so that a campaign walking its segment
a batch at a time does not sort the collection per batch under the server-wide lock (why it
matters: docs/decisions/dev-mongodb.md).

Kept only for collections whose ids are all `str` or all `ObjectId` (Python orders both as BSON
does: strings by code point, which is UTF-8 byte order; ObjectIds by their bytes). Built on the
first sorted query; inserts queue up and are merged at the next one; deleted ids stay in the list
until it is rebuilt (walkers check the collection for each id anyway).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from bson import ObjectId

from .keys import Key

_ORDERABLE: Final = (str, ObjectId)
_MERGE_LIMIT: Final = 256  # more pending inserts than this: re-sorting is cheaper than merging


class IdOrder:
    def __init__(self) -> None:
        self._ids: list[Any] | None = None
        self._type: type | None = None
        self._pending: list[Key] = []
        self._stale = 0

    def inserted(self, id_key: Key) -> None:
        if self._ids is not None:
            self._pending.append(id_key)

    def deleted(self) -> None:
        if self._ids is not None:
            self._stale += 1
            if self._stale > len(self._ids) // 2:
                self._ids = None  # mostly tombstones: rebuild from the live ids next time

    def ascending(self, live_ids: Sequence[Key] | Mapping[Key, Any]) -> list[Key] | None:
        """Every live id ascending (plus some deleted ones), or None if the ids are not all of
        one orderable type."""
        if self._ids is not None and len(self._pending) > _MERGE_LIMIT:
            self._ids = None
        if self._ids is None:
            return self._rebuild(live_ids)
        for id_key in self._pending:
            if type(id_key) is not self._type:
                return self._rebuild(live_ids)
            at = bisect.bisect_left(self._ids, id_key)
            if at == len(self._ids) or self._ids[at] != id_key:  # re-inserted after a delete
                self._ids.insert(at, id_key)
        self._pending.clear()
        return self._ids

    def _rebuild(self, live_ids: Sequence[Key] | Mapping[Key, Any]) -> list[Key] | None:
        self._pending.clear()
        self._stale = 0
        types = {type(id_key) for id_key in live_ids}
        if len(types) > 1 or not types <= set(_ORDERABLE):
            self._ids = self._type = None
            return None
        self._type = types.pop() if types else str
        self._ids = sorted(live_ids)
        return self._ids


def id_sort_direction(sort: Sequence[tuple[str, Any]] | None) -> int | None:
    """1 or -1 when the sort is by `_id` alone, else None."""
    if not sort or len(sort) != 1:
        return None
    field, direction = sort[0]
    if field != "_id" or isinstance(direction, bool) or direction not in (1, -1):
        return None
    return int(direction)


def walk(ids: list[Any], query: Mapping[str, Any], direction: int) -> Iterator[Key]:
    """`ids` in `direction`, starting at the query's own `_id` bound when it has one at the top
    level or in a top-level `$and` (the matcher still checks every document against it)."""
    if direction > 0:
        start = 0
        for operator, value in _id_conditions(query):
            if type(value) is type(ids[0] if ids else value) and operator in ("$gt", "$gte"):
                start = max(start, bisect.bisect_left(ids, value))
        return (ids[at] for at in range(start, len(ids)))
    stop = len(ids)
    for operator, value in _id_conditions(query):
        if type(value) is type(ids[0] if ids else value) and operator in ("$lt", "$lte"):
            stop = min(stop, bisect.bisect_right(ids, value))
    return (ids[at] for at in range(stop - 1, -1, -1))


def _id_conditions(query: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    clauses: list[Any] = [query]
    conjunction = query.get("$and")
    if isinstance(conjunction, list):
        clauses.extend(conjunction)
    for clause in clauses:
        condition = clause.get("_id") if isinstance(clause, Mapping) else None
        if isinstance(condition, Mapping):
            yield from ((str(op), value) for op, value in condition.items())
