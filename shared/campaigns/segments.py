"""A campaign's segment: the pass search filter (shared/passes/search.py, same grammar and
query) plus an optional list of pass ids, and its form in the operation's intent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.passes.search import PassFilter, to_query

MAX_IDS = 1000  # a request body is at most 64 KiB anyway


@dataclass(frozen=True)
class Segment:
    filters: PassFilter
    ids: tuple[str, ...] = ()  # empty: no restriction by id


def segment_query(tenant_id: str, segment: Segment) -> dict[str, Any]:
    """The MongoDB filter, always scoped to the tenant (to_query sets it last)."""
    query = to_query(tenant_id, segment.filters)
    if segment.ids:
        query = {"_id": {"$in": list(segment.ids)}, **query}
    return query


def _pairs(paths: Mapping[str, tuple[str, ...]]) -> list[list[Any]]:
    # [path, values] pairs: dotted paths are not safe as stored document keys.
    return [[path, list(values)] for path, values in paths.items()]


def to_intent(segment: Segment) -> dict[str, Any]:
    filters = segment.filters
    return {
        "passTypes": list(filters.pass_types),
        "identifiers": _pairs(filters.identifiers),
        "metadata": _pairs(filters.metadata),
        "apple": filters.apple,
        "google": filters.google,
        "ids": list(segment.ids),
    }


def from_intent(stored: Mapping[str, Any]) -> Segment:
    filters = PassFilter(
        pass_types=tuple(stored.get("passTypes", ())),
        identifiers={path: tuple(values) for path, values in stored.get("identifiers", ())},
        metadata={path: tuple(values) for path, values in stored.get("metadata", ())},
        apple=stored.get("apple"),
        google=stored.get("google"),
    )
    return Segment(filters=filters, ids=tuple(stored.get("ids", ())))
