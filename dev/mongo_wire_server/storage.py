"""In-memory databases and collections with hash indexes and unique constraints.

Documents are stored as plain dicts keyed by the canonical key of their `_id`, and are never
mutated once stored: writes build a new dict and swap it in. Cursors and replies can therefore
hold references to stored documents without copying them.

Not thread-safe by itself: the command dispatcher serialises every access with one lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .errors import (
    BAD_VALUE,
    INDEX_KEY_SPECS_CONFLICT,
    INDEX_NOT_FOUND,
    INDEX_OPTIONS_CONFLICT,
    INVALID_OPTIONS,
    MongoError,
    duplicate_key_error,
)
from .id_order import IdOrder
from .keys import Key, canonical_key, lookup_keys, split_path, unique_entries

Document = dict[str, Any]
Matcher = Callable[[Mapping[str, Any], Any], bool]

ID_INDEX_NAME: Final = "_id_"
_EMPTY: Final[frozenset[Key]] = frozenset()
_NO_OWNER: Final = object()
# Options that change what an index holds; two requests differing only elsewhere are the same.
_SIGNIFICANT_OPTIONS: Final = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds")


@dataclass(frozen=True)
class IndexSpec:
    name: str
    key: tuple[tuple[str, Any], ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def unique(self) -> bool:
        return bool(self.options.get("unique"))

    @property
    def sparse(self) -> bool:
        return bool(self.options.get("sparse"))

    def key_pattern(self) -> Document:
        return dict(self.key)

    def describe(self) -> Document:
        """The document listIndexes returns for this index."""
        return {"v": 2, "key": self.key_pattern(), "name": self.name, **self.options}

    def significant_options(self) -> tuple[Any, ...]:
        return tuple(self.options.get(option) for option in _SIGNIFICANT_OPTIONS)


ID_INDEX: Final = IndexSpec(ID_INDEX_NAME, (("_id", 1),))


class FieldIndex:
    """Hash index: canonical value key -> ids of the documents holding that value at a path."""

    def __init__(self, path: str) -> None:
        self.parts = split_path(path)
        self._buckets: dict[Key, set[Key]] = {}

    def add(self, id_key: Key, document: Document) -> None:
        for key in lookup_keys(document, self.parts):
            bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = {id_key}
            else:
                bucket.add(id_key)

    def remove(self, id_key: Key, document: Document) -> None:
        for key in lookup_keys(document, self.parts):
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.discard(id_key)
                if not bucket:
                    del self._buckets[key]

    def lookup(self, key: Key) -> set[Key] | frozenset[Key]:
        return self._buckets.get(key, _EMPTY)


class UniqueConstraint:
    """Which document owns each (compound, multikey) key of a unique index."""

    def __init__(self, spec: IndexSpec, matcher: Matcher) -> None:
        self.spec = spec
        self._fields = [(name, split_path(name)) for name, _ in spec.key]
        self._partial_filter = spec.options.get("partialFilterExpression")
        self._matcher = matcher
        self._owners: dict[tuple[Key, ...], Key] = {}

    def entries(self, document: Document) -> dict[tuple[Key, ...], tuple[Any, ...]]:
        """Compound keys of the document (canonical -> original values), none if not indexed."""
        if self._partial_filter is not None and not self._matcher(self._partial_filter, document):
            return {}
        per_field = [unique_entries(document, parts) for _, parts in self._fields]
        if self.spec.sparse and not any(present for _, present in per_field):
            return {}
        compound: dict[tuple[Key, ...], tuple[Any, ...]] = {}
        for combination in itertools.product(*(entries.items() for entries, _ in per_field)):
            compound[tuple(key for key, _ in combination)] = tuple(raw for _, raw in combination)
        return compound

    def find_conflict(self, document: Document, id_key: Key) -> tuple[Any, ...] | None:
        for key, raw in self.entries(document).items():
            owner = self._owners.get(key, _NO_OWNER)
            if owner is not _NO_OWNER and owner != id_key:
                return raw
        return None

    def add(self, document: Document, id_key: Key) -> None:
        for key in self.entries(document):
            self._owners[key] = id_key

    def remove(self, document: Document, id_key: Key) -> None:
        for key in self.entries(document):
            if self._owners.get(key, _NO_OWNER) == id_key:
                del self._owners[key]

    def key_value(self, raw: tuple[Any, ...]) -> Document:
        return {name: value for (name, _), value in zip(self._fields, raw, strict=True)}


class CollectionStore:
    def __init__(self, database: str, name: str, matcher: Matcher) -> None:
        self.database = database
        self.name = name
        self.options: Document = {}
        self.documents: dict[Key, Document] = {}
        self.indexes: dict[str, IndexSpec] = {ID_INDEX_NAME: ID_INDEX}
        self.field_indexes: dict[str, FieldIndex] = {}
        self._matcher = matcher
        self._unique: dict[str, UniqueConstraint] = {}
        self._positions: dict[Key, int] = {}
        self._next_position = itertools.count()
        self.id_order = IdOrder()

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.name}"

    def in_natural_order(self, id_keys: Collection[Key]) -> list[Key]:
        """Order index hits like a collection scan would, so results do not depend on indexes."""
        if len(id_keys) < 2:
            return list(id_keys)
        return sorted(id_keys, key=self._positions.__getitem__)

    # --- documents -------------------------------------------------------------------------

    def insert(self, document: Document) -> None:
        id_key = canonical_key(document["_id"])
        if id_key in self.documents:
            raise self._duplicate_id(document["_id"])
        self._check_unique(document, id_key)
        self.documents[id_key] = document
        self._positions[id_key] = next(self._next_position)
        self.id_order.inserted(id_key)
        self._index(id_key, document)

    def replace(self, id_key: Key, document: Document) -> None:
        """Swap in a new version of a stored document; nothing changes if it breaks uniqueness."""
        previous = self.documents[id_key]
        self._check_unique(document, id_key)
        self._unindex(id_key, previous)
        self.documents[id_key] = document
        self._index(id_key, document)

    def delete(self, id_key: Key) -> None:
        document = self.documents.pop(id_key)
        del self._positions[id_key]
        self.id_order.deleted()
        self._unindex(id_key, document)

    def _index(self, id_key: Key, document: Document) -> None:
        for field_index in self.field_indexes.values():
            field_index.add(id_key, document)
        for constraint in self._unique.values():
            constraint.add(document, id_key)

    def _unindex(self, id_key: Key, document: Document) -> None:
        for field_index in self.field_indexes.values():
            field_index.remove(id_key, document)
        for constraint in self._unique.values():
            constraint.remove(document, id_key)

    def _check_unique(self, document: Document, id_key: Key) -> None:
        for constraint in self._unique.values():
            raw = constraint.find_conflict(document, id_key)
            if raw is not None:
                raise duplicate_key_error(
                    self.namespace,
                    constraint.spec.name,
                    constraint.spec.key_pattern(),
                    constraint.key_value(raw),
                )

    def _duplicate_id(self, value: Any) -> MongoError:
        return duplicate_key_error(self.namespace, ID_INDEX_NAME, {"_id": 1}, {"_id": value})

    # --- indexes ---------------------------------------------------------------------------

    def create_index(self, spec: IndexSpec) -> bool:
        """Add an index; False if an identical one exists. Builds atomically or not at all."""
        existing = self.indexes.get(spec.name)
        if existing is not None:
            if existing.key != spec.key:
                raise MongoError(
                    INDEX_KEY_SPECS_CONFLICT,
                    f"An existing index has the same name as the requested index but a different "
                    f"key: {spec.name}",
                )
            if existing.significant_options() != spec.significant_options():
                raise MongoError(
                    INDEX_OPTIONS_CONFLICT,
                    f"An existing index has the same name as the requested index but different "
                    f"options: {spec.name}",
                )
            return False
        for other in self.indexes.values():
            if other.key == spec.key and other.significant_options() == spec.significant_options():
                raise MongoError(
                    INDEX_OPTIONS_CONFLICT,
                    f"Index already exists with a different name: {other.name}",
                )
        if spec.unique:
            self._unique[spec.name] = self._build_unique(spec)
        self.indexes[spec.name] = spec
        for path, _ in spec.key:
            if path not in self.field_indexes:
                field_index = FieldIndex(path)
                for id_key, document in self.documents.items():
                    field_index.add(id_key, document)
                self.field_indexes[path] = field_index
        return True

    def _build_unique(self, spec: IndexSpec) -> UniqueConstraint:
        constraint = UniqueConstraint(spec, self._matcher)
        for id_key, document in self.documents.items():
            raw = constraint.find_conflict(document, id_key)
            if raw is not None:
                raise duplicate_key_error(
                    self.namespace, spec.name, spec.key_pattern(), constraint.key_value(raw)
                )
            constraint.add(document, id_key)
        return constraint

    def drop_index(self, name: str) -> None:
        if name == ID_INDEX_NAME:
            raise MongoError(INVALID_OPTIONS, "cannot drop _id index")
        if name not in self.indexes:
            raise MongoError(INDEX_NOT_FOUND, f"index not found with name [{name}]")
        del self.indexes[name]
        self._unique.pop(name, None)
        still_indexed = {path for spec in self.indexes.values() for path, _ in spec.key}
        for path in list(self.field_indexes):
            if path not in still_indexed:
                del self.field_indexes[path]

    def index_named_by_key(self, key: Mapping[str, Any]) -> str:
        wanted = tuple(key.items())
        for spec in self.indexes.values():
            if spec.key == wanted:
                return spec.name
        raise MongoError(INDEX_NOT_FOUND, f"can't find index with key: {dict(key)}")


def parse_index_spec(raw: Mapping[str, Any]) -> IndexSpec:
    key = raw.get("key")
    name = raw.get("name")
    if not isinstance(key, Mapping) or not key:
        raise MongoError(BAD_VALUE, "The 'key' field of an index specification must be a document")
    if not isinstance(name, str) or not name:
        raise MongoError(BAD_VALUE, "The 'name' field is a required property of an index spec")
    for path, direction in key.items():
        valid = direction in (1, -1) or direction in ("hashed", "text", "2d", "2dsphere")
        if not valid or isinstance(direction, bool):
            raise MongoError(BAD_VALUE, f"Values in the index key pattern must be 1 or -1: {path}")
    options = {
        option: value
        for option, value in raw.items()
        if option not in ("key", "name", "v", "background", "ns")
    }
    if not options.get("unique"):
        options.pop("unique", None)
    if not options.get("sparse"):
        options.pop("sparse", None)
    return IndexSpec(name, tuple(key.items()), options)


class Storage:
    """All databases of the server: database name -> collection name -> collection."""

    def __init__(self, matcher: Matcher) -> None:
        self._matcher = matcher
        self._databases: dict[str, dict[str, CollectionStore]] = {}

    def get(self, database: str, name: str) -> CollectionStore | None:
        return self._databases.get(database, {}).get(name)

    def get_or_create(self, database: str, name: str) -> tuple[CollectionStore, bool]:
        collections = self._databases.setdefault(database, {})
        existing = collections.get(name)
        if existing is not None:
            return existing, False
        created = collections[name] = CollectionStore(database, name, self._matcher)
        return created, True

    def drop(self, database: str, name: str) -> CollectionStore | None:
        collections = self._databases.get(database, {})
        dropped = collections.pop(name, None)
        if not collections:
            self._databases.pop(database, None)
        return dropped

    def attach(self, collection: CollectionStore, database: str, name: str) -> None:
        """Re-home a collection under a new namespace (renameCollection)."""
        collection.database, collection.name = database, name
        self._databases.setdefault(database, {})[name] = collection

    def drop_database(self, database: str) -> None:
        self._databases.pop(database, None)

    def database_names(self) -> list[str]:
        return list(self._databases)

    def collections(self, database: str) -> Iterator[CollectionStore]:
        yield from list(self._databases.get(database, {}).values())
