"""Hashable canonical keys for BSON values and extraction of the keys a document holds at a path.

The hash indexes only narrow the candidates; mongomock's matcher makes the final decision. So
every key function here must be a *superset* of mongomock's equality: two values the matcher
treats as equal must get the same key. Python equality already unifies 1, 1.0 and True (and
mongomock compares with ``==``), embedded documents compare without regard to field order, and
datetimes are compared as naive UTC.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Final

from bson import ObjectId, Regex
from bson.decimal128 import Decimal128

Key = Hashable

# Yielded by the path walker where a path does not exist; indexed like null, as MongoDB does.
MISSING: Final = object()
# MongoDB indexes an empty array as `undefined`, distinct from null.
EMPTY_ARRAY_KEY: Final = ("empty-array",)

_IDENTITY_TYPES: Final = frozenset({str, int, float, bool, ObjectId, type(None)})


def canonical_key(value: Any) -> Key:
    if type(value) in _IDENTITY_TYPES:
        return value  # type: ignore[no-any-return]
    for value_type, convert in _CONVERTERS:
        if isinstance(value, value_type):
            return convert(value)
    try:
        hash(value)
    except TypeError:
        return ("repr", type(value).__name__, repr(value))
    return value  # type: ignore[no-any-return]


def _document_key(value: dict[str, Any]) -> Key:
    return ("doc", frozenset((field, canonical_key(item)) for field, item in value.items()))


def _array_key(value: list[Any]) -> Key:
    return ("array", tuple(canonical_key(item) for item in value))


def _datetime_key(value: datetime.datetime) -> Key:
    if value.tzinfo is None:
        return value
    return value.astimezone(datetime.UTC).replace(tzinfo=None)


def _decimal_key(value: Decimal128) -> Key:
    number = value.to_decimal()
    if number.is_finite() and number == number.to_integral_value():
        return int(number)
    return float(number)


def _regex_key(value: Regex[Any] | re.Pattern[Any]) -> Key:
    return ("regex", str(value.pattern), int(value.flags))


_CONVERTERS: Final[tuple[tuple[Any, Callable[[Any], Key]], ...]] = (
    (dict, _document_key),
    (list, _array_key),
    (datetime.datetime, _datetime_key),
    (Decimal128, _decimal_key),
    (Regex | re.Pattern, _regex_key),
)


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def values_at_path(document: Any, parts: tuple[str, ...]) -> Iterator[Any]:
    """Yield every value a dotted path reaches, walking through arrays like MongoDB's multikey."""
    yield from _walk(document, parts, 0)


def _walk(node: Any, parts: tuple[str, ...], depth: int) -> Iterator[Any]:
    if depth == len(parts):
        yield node
        return
    part = parts[depth]
    if isinstance(node, dict):
        if part in node:
            yield from _walk(node[part], parts, depth + 1)
        else:
            yield MISSING
    elif isinstance(node, list):
        if part.isdigit() and int(part) < len(node):
            yield from _walk(node[int(part)], parts, depth + 1)
        for element in node:
            if isinstance(element, dict):
                yield from _walk(element, parts, depth)
    else:
        yield MISSING


def lookup_keys(document: Any, parts: tuple[str, ...]) -> set[Key]:
    """Keys under which a hash index files the document: whole values and all array elements."""
    node = document
    for part in parts:  # fast path: a path through embedded documents only, to a non-array
        if type(node) is not dict:
            break
        node = node.get(part, MISSING)
    else:
        if type(node) is not list:
            return {None if node is MISSING else canonical_key(node)}
    keys: set[Key] = set()
    for value in values_at_path(document, parts):
        if value is MISSING:
            keys.add(None)
        else:
            _add_value_keys(value, keys)
    return keys


def _add_value_keys(value: Any, keys: set[Key]) -> None:
    keys.add(canonical_key(value))
    if isinstance(value, list):
        for element in value:
            _add_value_keys(element, keys)


def unique_entries(document: Any, parts: tuple[str, ...]) -> tuple[dict[Key, Any], bool]:
    """Keys a unique index holds for the document (key -> original value), and whether the field
    exists at all (sparse indexes skip documents where it does not)."""
    entries: dict[Key, Any] = {}
    present = False
    for value in values_at_path(document, parts):
        if value is MISSING:
            entries.setdefault(None, None)
            continue
        present = True
        if isinstance(value, list):
            if not value:
                entries.setdefault(EMPTY_ARRAY_KEY, [])
            for element in value:
                entries.setdefault(canonical_key(element), element)
        else:
            entries.setdefault(canonical_key(value), value)
    return entries, present
