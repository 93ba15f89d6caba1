"""Execute reads and single write statements against the storage, using the query planner.

Every method raises `MongoError` on failure and leaves the collection as it was for the
statement's document (a failing update of one document writes nothing for that document).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bson import ObjectId, Regex

from . import id_order, mongomock_ops
from .errors import BAD_VALUE, NOT_IMPLEMENTED, MongoError
from .id_order import id_sort_direction
from .keys import MISSING, Key, canonical_key, split_path, values_at_path
from .planner import QueryPlan, plan_query
from .storage import CollectionStore, Storage
from .updates import UpdateSpec, clone

Document = dict[str, Any]
SortSpec = Sequence[tuple[str, Any]]

# Stages that never modify their input documents, so stored documents can be fed unchanged.
_READ_ONLY_STAGES: Final = frozenset({"$match", "$sort", "$skip", "$limit", "$count", "$group"})
NO_UPSERT: Final = object()


@dataclass
class UpdateOutcome:
    matched: int = 0
    modified: int = 0
    upserted_id: Any = NO_UPSERT
    error: MongoError | None = None


class QueryEngine:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # Documents tested against a query; serverStatus reports it as scannedObjects.
        self.documents_examined = 0
        self._matcher_evaluations = 0

    # --- reads -----------------------------------------------------------------------------

    def find(
        self,
        database: str,
        name: str,
        query: Mapping[str, Any],
        *,
        sort: SortSpec | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> list[Document]:
        collection = self.storage.get(database, name)
        return self._select(collection, query, sort=sort, skip=skip, limit=limit)

    def _select(
        self,
        collection: CollectionStore | None,
        query: Mapping[str, Any],
        *,
        sort: SortSpec | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> list[Document]:
        if collection is None:
            mongomock_ops.validate_query(query)
            return []
        direction = id_sort_direction(sort)
        plan = plan_query(query, collection, natural_order=direction is None)
        evaluations_before = self._matcher_evaluations
        ids = self._id_walk(collection, query, plan, direction, limit)
        matching = self._matching(collection, query, plan, ids)
        end = skip + limit if limit else None
        if ids is not None:
            selected = list(itertools.islice(matching, skip, end))  # already in `_id` order
        elif sort:
            selected = mongomock_ops.sort_documents(list(matching), sort)[skip:end]
        else:
            selected = list(itertools.islice(matching, skip, end))
        if self._matcher_evaluations == evaluations_before and not plan.is_whole_query_proven:
            mongomock_ops.validate_query(query)  # no document reached the matcher to reject it
        return selected

    @staticmethod
    def _id_walk(
        collection: CollectionStore,
        query: Mapping[str, Any],
        plan: QueryPlan,
        direction: int | None,
        limit: int,
    ) -> Iterator[Key] | None:
        """Ids in `_id` order, filtered to the plan's candidates, when walking them beats
        matching every candidate and sorting: a scan anyway, or a limit below the candidates."""
        if direction is None:
            return None
        if plan.members is not None and not (limit and limit < len(plan.members)):
            return None
        ordered = collection.id_order.ascending(collection.documents)
        if ordered is None:
            return None
        walked = id_order.walk(ordered, query, direction)
        members = plan.members
        return walked if members is None else (key for key in walked if key in members)

    def _matching(
        self,
        collection: CollectionStore,
        query: Mapping[str, Any],
        plan: QueryPlan,
        ids: Iterator[Key] | None = None,
    ) -> Iterator[Document]:
        documents = collection.documents
        if ids is not None:
            for id_key in ids:
                candidate = documents.get(id_key)  # deleted ids linger in the order
                if candidate is not None and self._accepts(plan, query, candidate):
                    yield candidate
            return
        if plan.candidates is None:
            for document in list(documents.values()):
                if self._accepts(plan, query, document):
                    yield document
            return
        for id_key in plan.candidates:
            candidate = documents.get(id_key)
            if candidate is not None and self._accepts(plan, query, candidate):
                yield candidate

    def _accepts(self, plan: QueryPlan, query: Mapping[str, Any], document: Document) -> bool:
        self.documents_examined += 1
        if plan.proven is not None and plan.proven.holds(document):
            if plan.residual is None:
                return True
            if plan.also and all(condition.holds(document) for condition in plan.also):
                if plan.rest is None:
                    return True
                self._matcher_evaluations += 1
                return mongomock_ops.matches(plan.rest, document)
            # Not shown by the plain checks (an array, a missing field...): mongomock decides.
            self._matcher_evaluations += 1
            return mongomock_ops.matches(plan.residual, document)
        self._matcher_evaluations += 1
        return mongomock_ops.matches(query, document)

    def count(
        self, database: str, name: str, query: Mapping[str, Any], *, skip: int, limit: int
    ) -> int:
        collection = self.storage.get(database, name)
        if collection is None:
            return 0
        total = len(collection.documents) if not query else len(self._select(collection, query))
        total = max(total - skip, 0)
        return min(total, limit) if limit else total

    def distinct(self, database: str, name: str, key: str, query: Mapping[str, Any]) -> list[Any]:
        parts = split_path(key)
        seen: set[Any] = set()
        values: list[Any] = []
        for document in self.find(database, name, query):
            for value in values_at_path(document, parts):
                if value is MISSING:
                    continue
                for item in value if isinstance(value, list) else [value]:
                    item_key = canonical_key(item)
                    if item_key not in seen:
                        seen.add(item_key)
                        values.append(item)
        return values

    def aggregate(self, database: str, name: str, pipeline: list[Any]) -> list[Document]:
        stages = list(pipeline)
        for stage in stages:
            if not isinstance(stage, Mapping) or len(stage) != 1:
                raise MongoError(
                    BAD_VALUE,
                    "A pipeline stage specification object must contain exactly one field.",
                )
            if "$merge" in stage:
                raise MongoError(NOT_IMPLEMENTED, "$merge is not supported by the dev server")
        out_target = stages.pop()["$out"] if stages and "$out" in stages[-1] else None
        collection = self.storage.get(database, name)
        if stages and "$match" in stages[0]:
            documents = self._select(collection, stages.pop(0)["$match"])
        else:
            documents = list(collection.documents.values()) if collection else []
        counted = _count_of(documents, stages)
        if counted is not None:
            return counted
        if stages:
            if not all(next(iter(stage)) in _READ_ONLY_STAGES for stage in stages):
                documents = [clone(document) for document in documents]
            documents = mongomock_ops.run_pipeline(documents, stages, _Lookups(self, database))
        if out_target is not None:
            self._write_out(database, out_target, documents)
            return []
        return documents

    def _write_out(self, database: str, target: Any, documents: list[Document]) -> None:
        if isinstance(target, Mapping):
            database, target = target.get("db", database), target.get("coll")
        if not isinstance(target, str) or not target:
            raise MongoError(BAD_VALUE, "$out requires a collection name")
        previous = self.storage.get(database, target)
        replacement = CollectionStore(database, target, mongomock_ops.matches)
        for spec in previous.indexes.values() if previous else ():
            replacement.create_index(spec)
        for document in documents:
            replacement.insert(prepare_insert(clone(document)))
        self.storage.attach(replacement, database, target)

    # --- writes ----------------------------------------------------------------------------

    def insert(self, database: str, name: str, document: Any) -> None:
        prepared = prepare_insert(document)
        collection, _ = self.storage.get_or_create(database, name)
        collection.insert(prepared)

    def update(
        self,
        database: str,
        name: str,
        query: Mapping[str, Any],
        spec: UpdateSpec,
        *,
        multi: bool,
        upsert: bool,
    ) -> UpdateOutcome:
        outcome = UpdateOutcome()
        collection = self.storage.get(database, name)
        try:
            targets = self._select(collection, query, limit=0 if multi else 1)
            for current in targets:
                assert collection is not None
                updated = spec.apply(current, query)
                if updated is not None:
                    collection.replace(canonical_key(current["_id"]), updated)
                    outcome.modified += 1
                outcome.matched += 1
            if not targets and upsert:
                inserted = spec.build_upsert(query)
                target, _ = self.storage.get_or_create(database, name)
                target.insert(prepare_insert(inserted))
                outcome.upserted_id = inserted["_id"]
        except MongoError as error:
            outcome.error = error
        return outcome

    def delete(self, database: str, name: str, query: Mapping[str, Any], *, just_one: bool) -> int:
        collection = self.storage.get(database, name)
        targets = self._select(collection, query, limit=1 if just_one else 0)
        for document in targets:
            assert collection is not None
            collection.delete(canonical_key(document["_id"]))
        return len(targets)

    def find_and_modify(
        self,
        database: str,
        name: str,
        query: Mapping[str, Any],
        *,
        sort: SortSpec | None,
        update: UpdateSpec | None,
        upsert: bool,
        return_new: bool,
    ) -> tuple[Document | None, Document]:
        """(value to return, lastErrorObject) of findAndModify; update=None means remove."""
        collection = self.storage.get(database, name)
        found = self._select(collection, query, sort=sort, limit=1)
        current = found[0] if found else None
        if update is None:
            if collection is None or current is None:
                return None, {"n": 0}
            collection.delete(canonical_key(current["_id"]))
            return current, {"n": 1}
        if collection is not None and current is not None:
            updated = update.apply(current, query)
            if updated is None:
                updated = current
            else:
                collection.replace(canonical_key(current["_id"]), updated)
            return (updated if return_new else current), {"n": 1, "updatedExisting": True}
        if not upsert:
            return None, {"n": 0, "updatedExisting": False}
        inserted = prepare_insert(update.build_upsert(query))
        target, _ = self.storage.get_or_create(database, name)
        target.insert(inserted)
        last_error = {"n": 1, "updatedExisting": False, "upserted": inserted["_id"]}
        return (inserted if return_new else None), last_error


def prepare_insert(document: Any) -> Document:
    """Give the document an `_id` (first, as mongod stores it) and reject invalid ones."""
    if not isinstance(document, dict):
        raise MongoError(BAD_VALUE, "documents to insert must be objects")
    if "_id" not in document:
        return {"_id": ObjectId(), **document}
    document_id = document["_id"]
    if isinstance(document_id, list | Regex) or (
        isinstance(document_id, Mapping) and any(str(key).startswith("$") for key in document_id)
    ):
        raise MongoError(
            BAD_VALUE, f"can't use a {type(document_id).__name__} for _id: {document_id!r}"
        )
    if next(iter(document)) != "_id":
        return {"_id": document_id, **{k: v for k, v in document.items() if k != "_id"}}
    return document


class _Lookups:
    """Lets `$lookup` / `$graphLookup` query other collections of the database, indexes included."""

    def __init__(self, engine: QueryEngine, database: str) -> None:
        self._engine = engine
        self._database = database

    def get_collection(self, name: str) -> _LookupCollection:
        return _LookupCollection(self._engine, self._database, name)


class _LookupCollection:
    def __init__(self, engine: QueryEngine, database: str, name: str) -> None:
        self._engine = engine
        self._database = database
        self._name = name

    def find(self, query: Mapping[str, Any]) -> list[Document]:
        found = self._engine.find(self._database, self._name, query)
        return [clone(document) for document in found]


def _count_of(documents: list[Document], stages: list[Any]) -> list[Document] | None:
    """pymongo's count_documents pipeline after its `$match` (`$skip`/`$limit` then one
    `$group` of `{"_id": 1, "n": {"$sum": 1}}`), answered by counting: mongomock's `$group`
    walks every document (a third of a 100,000-pass segment count). None for any other."""
    *window, last = stages or [None]
    if last != {"$group": {"_id": 1, "n": {"$sum": 1}}}:
        return None
    skip, limit = 0, None
    for stage in window:
        name, value = next(iter(stage.items()))
        if type(value) is not int or value < (name == "$limit") or name not in ("$skip", "$limit"):
            return None  # a $limit of 0 is an error mongomock reports
        if name == "$skip":
            skip, limit = skip + value, None if limit is None else max(limit - value, 0)
        else:
            limit = value if limit is None else min(limit, value)
    total = max(len(documents) - skip, 0)
    if limit is not None:
        total = min(total, limit)
    return [{"_id": 1, "n": total}] if total else []
