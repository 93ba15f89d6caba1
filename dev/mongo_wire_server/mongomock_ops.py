"""The query language, borrowed from mongomock: matching, projection, sorting, update operators
and aggregation pipelines, applied to documents this server stores itself.

mongomock's storage scans every document, so only its pure per-document logic is used here.
Some of it lives on private `Collection` methods that never touch the collection's storage; all
such private uses are kept in this module so a mongomock upgrade breaks in one place only.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, cast

import mongomock
import mongomock.aggregate
import mongomock.collection
import mongomock.filtering
import packaging.version
from pymongo.errors import PyMongoError

from .errors import BAD_VALUE, NOT_IMPLEMENTED, TYPE_MISMATCH, MongoError

Document = dict[str, Any]

_filter_applies = cast(Callable[[Mapping[str, Any], Any], bool], mongomock.filtering.filter_applies)
_resolve_sort_key = cast(Callable[[str, Any], Any], mongomock.filtering.resolve_sort_key)
_validate_stage_name = cast(Callable[[str], None], mongomock.aggregate.validate_stage_name)
_process_pipeline = cast(
    Callable[[list[Document], Any, list[Any], None], Any], mongomock.aggregate.process_pipeline
)


class _Toolbox(Protocol):
    """The storage-free methods of a mongomock Collection that this module calls."""

    def _copy_only_fields(
        self, doc: Mapping[str, Any], fields: dict[str, Any], container: type[dict[str, Any]]
    ) -> Document: ...

    def _apply_update_document(
        self,
        existing_document: Document,
        spec: Mapping[str, Any],
        document: Mapping[str, Any],
        was_insert: bool,
    ) -> None: ...


_toolbox = cast(_Toolbox, mongomock.MongoClient().get_database("toolbox").get_collection("ops"))

# mongomock re-parses constant version strings ("3.6", "4.0") with `packaging` inside every
# `$set` and projection, which made up most of an update's cost. A memoised parse returns equal
# values, so behaviour is unchanged; only the `parse` attribute of that module is ever used.
mongomock.collection.version = types.SimpleNamespace(  # type: ignore[attr-defined,assignment]
    parse=functools.lru_cache(maxsize=32)(packaging.version.parse)
)


_NOTHING: Any = mongomock.filtering.NOTHING  # type: ignore[attr-defined]  # "no value here"
_iter_key_candidates = cast(
    Callable[[str, Any], Sequence[Any]], mongomock.filtering.iter_key_candidates
)


def _key_candidates(key: str, document: Any) -> Sequence[Any]:
    """mongomock finds no value at all on a dotted path through a null or scalar parent, so
    `{"a.b": {"$ne": null}}` matched `{"a": null}` and `{"a.b": null}` did not. MongoDB sees a
    missing field there, as under a missing parent: `{"a.b": null}` matches, `$ne` does not."""
    parent, dot, _ = key.partition(".")
    if (
        dot
        and isinstance(document, dict)
        and parent in document
        and not isinstance(document[parent], dict | list)
    ):
        return [_NOTHING]
    return _iter_key_candidates(key, document)


# The matcher (and its own recursion into sub-documents) looks this name up at call time.
mongomock.filtering.iter_key_candidates = _key_candidates


class LookupSource(Protocol):
    """What `$lookup` / `$graphLookup` need: a way to query another collection by name."""

    def get_collection(self, name: str) -> Any: ...


@contextlib.contextmanager
def mongo_errors() -> Iterator[None]:
    """Report mongomock's and Python's failures as MongoDB errors the client understands."""
    try:
        yield
    except MongoError:
        raise
    except NotImplementedError as exc:
        raise MongoError(NOT_IMPLEMENTED, f"not supported by the dev server: {exc}") from exc
    except PyMongoError as exc:
        code = getattr(exc, "code", None)
        raise MongoError(code if isinstance(code, int) else BAD_VALUE, str(exc)) from exc
    except TypeError as exc:
        raise MongoError(TYPE_MISMATCH, str(exc)) from exc
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise MongoError(BAD_VALUE, str(exc)) from exc


def matches(query: Mapping[str, Any], document: Any) -> bool:
    with mongo_errors():
        return _filter_applies(query, document)


def validate_query(query: Mapping[str, Any]) -> None:
    """Surface a malformed query even when no document is ever tested against it."""
    matches(query, {})


def project(document: Mapping[str, Any], projection: Mapping[str, Any]) -> Document:
    if not projection:
        return dict(document)
    plain = _plain_projection(document, projection)
    if plain is not None:
        return plain
    with mongo_errors():
        return _toolbox._copy_only_fields(document, dict(projection), dict)


def _plain_projection(
    document: Mapping[str, Any], projection: Mapping[str, Any]
) -> Document | None:
    """The two shapes the application reads with, without mongomock's field-by-field copy (a
    fifth of the server's time reading a campaign batch): top-level fields kept, or paths
    through embedded documents left out. None: mongomock decides (arrays on the way, nested
    inclusions, operators, mixed shapes)."""
    fields = list(projection.items())
    if any(type(v) not in (int, bool) or "$" in k or not k for k, v in fields):
        return None
    if all(not v for _, v in fields):
        return _without(document, [k for k, _ in fields])
    kept = {k for k, v in fields if v}
    if any("." in k for k in kept) or any(not v and k != "_id" for k, v in fields):
        return None
    if projection.get("_id", 1):
        kept.add("_id")
    return {k: v for k, v in document.items() if k in kept}


def _without(document: Mapping[str, Any], paths: list[str]) -> Document | None:
    result = dict(document)
    for path in paths:
        *parents, leaf = path.split(".")
        node = result
        for part in parents:
            child = node.get(part)
            if type(child) is not dict:
                if part in node:
                    return None  # an array or a value on the way: mongomock's rules
                break  # nothing there to leave out
            copied = dict(child)  # the stored document stays whole
            node[part] = copied
            node = copied
        else:
            node.pop(leaf, None)
    return result


def sort_documents(documents: list[Document], sort: Sequence[tuple[str, Any]]) -> list[Document]:
    """Stable multi-key sort in BSON order, applied from the least significant key up."""
    ordered = list(documents)
    with mongo_errors():
        for field, direction in reversed(sort):
            descending = _is_descending(direction)
            if field == "$natural":
                if descending:
                    ordered.reverse()
                continue
            if field.startswith("$") or isinstance(direction, Mapping):
                raise MongoError(NOT_IMPLEMENTED, f"sorting by {field} is not supported")
            ordered.sort(key=functools.partial(_resolve_sort_key, field), reverse=descending)
    return ordered


def _is_descending(direction: Any) -> bool:
    if isinstance(direction, bool) or not isinstance(direction, int | float):
        if isinstance(direction, Mapping):
            return False
        raise MongoError(BAD_VALUE, f"bad sort specification: {direction!r}")
    if direction not in (1, -1):
        raise MongoError(BAD_VALUE, "$sort key ordering must be 1 (for ascending) or -1")
    return direction < 0


def apply_update_operators(
    document: Document, update: Mapping[str, Any], query: Mapping[str, Any], was_insert: bool
) -> None:
    """Apply an operator update (`$set`, `$inc`, `$push`, ...) to `document` in place."""
    with mongo_errors():
        _toolbox._apply_update_document(document, query, update, was_insert)


def run_pipeline(
    documents: list[Document], pipeline: list[Any], lookups: LookupSource | None
) -> list[Document]:
    with mongo_errors():
        for stage in pipeline:
            if not isinstance(stage, Mapping) or len(stage) != 1:
                raise MongoError(
                    BAD_VALUE,
                    "A pipeline stage specification object must contain exactly one field.",
                )
            _validate_stage_name(next(iter(stage)))
        return list(_process_pipeline(documents, lookups, pipeline, None))
