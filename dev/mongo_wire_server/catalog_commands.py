"""Databases, collections and indexes: create, drop, list*, createIndexes, dropIndexes,
renameCollection and dropDatabase."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import mongomock_ops
from .context import Call, Handler, Reply
from .errors import (
    BAD_VALUE,
    INDEX_NOT_FOUND,
    NAMESPACE_EXISTS,
    NAMESPACE_NOT_FOUND,
    NOT_IMPLEMENTED,
    MongoError,
)
from .storage import ID_INDEX_NAME, CollectionStore, parse_index_spec

# Generic command arguments that are not options of the collection being created.
_GENERIC_ARGUMENTS: Final = frozenset(
    {
        "lsid",
        "$clusterTime",
        "txnNumber",
        "writeConcern",
        "readConcern",
        "comment",
        "maxTimeMS",
        "$readPreference",
        "apiVersion",
        "apiStrict",
        "apiDeprecationErrors",
    }
)


def create(call: Call) -> Reply:
    name = call.collection()
    if "viewOn" in call.body:
        raise MongoError(NOT_IMPLEMENTED, "views are not supported by the dev server")
    collection, created = call.state.storage.get_or_create(call.database, name)
    if not created:
        raise MongoError(NAMESPACE_EXISTS, f"Collection {collection.namespace} already exists.")
    collection.options = {
        key: value
        for key, value in call.body.items()
        if key != "create" and key not in _GENERIC_ARGUMENTS
    }
    return {}


def drop(call: Call) -> Reply:
    name = call.collection()
    dropped = call.state.storage.drop(call.database, name)
    if dropped is None:
        raise MongoError(NAMESPACE_NOT_FOUND, "ns not found")
    return {"nIndexesWas": len(dropped.indexes), "ns": dropped.namespace}


def drop_database(call: Call) -> Reply:
    call.state.storage.drop_database(call.database)
    return {"dropped": call.database}


def list_collections(call: Call) -> Reply:
    name_only = call.flag("nameOnly")
    descriptions = [
        _describe_collection(collection, name_only)
        for collection in call.state.storage.collections(call.database)
    ]
    wanted = call.document("filter")
    matching = [item for item in descriptions if mongomock_ops.matches(wanted, item)]
    batch_size = call.document("cursor").get("batchSize")
    cursor = call.state.cursors.open(
        call.namespace("$cmd.listCollections"),
        matching,
        batch_size=int(batch_size) if isinstance(batch_size, int | float) else None,
    )
    return {"cursor": cursor}


def _describe_collection(collection: CollectionStore, name_only: bool) -> dict[str, Any]:
    if name_only:
        return {"name": collection.name, "type": "collection"}
    return {
        "name": collection.name,
        "type": "collection",
        "options": dict(collection.options),
        "info": {"readOnly": False},
        "idIndex": collection.indexes[ID_INDEX_NAME].describe(),
    }


def list_databases(call: Call) -> Reply:
    storage = call.state.storage
    entries: list[dict[str, Any]] = []
    for database in storage.database_names():
        collections = list(storage.collections(database))
        # Nothing is on disk; a rough figure keeps tools that sort or sum sizes happy.
        size = sum(len(collection.documents) for collection in collections) * 256
        entries.append({"name": database, "sizeOnDisk": size, "empty": not size})
    wanted = call.document("filter")
    entries = [entry for entry in entries if mongomock_ops.matches(wanted, entry)]
    if call.flag("nameOnly"):
        return {"databases": [{"name": entry["name"]} for entry in entries]}
    total = sum(entry["sizeOnDisk"] for entry in entries)
    return {"databases": entries, "totalSize": total, "totalSizeMb": total // (1024 * 1024)}


def create_indexes(call: Call) -> Reply:
    name = call.collection()
    specs = [parse_index_spec(raw) for raw in call.array("indexes") if isinstance(raw, Mapping)]
    if not specs:
        raise MongoError(BAD_VALUE, "Must specify at least one index to create")
    collection, created = call.state.storage.get_or_create(call.database, name)
    before = len(collection.indexes)
    added: list[str] = []
    try:
        for spec in specs:
            if collection.create_index(spec):
                added.append(spec.name)
    except MongoError:
        for index_name in added:  # all or nothing, like mongod
            collection.drop_index(index_name)
        if created:
            call.state.storage.drop(call.database, name)
        raise
    reply: Reply = {
        "createdCollectionAutomatically": created,
        "numIndexesBefore": before,
        "numIndexesAfter": len(collection.indexes),
    }
    if not added:
        reply["note"] = "all indexes already exist"
    return reply


def list_indexes(call: Call) -> Reply:
    name = call.collection()
    collection = call.state.storage.get(call.database, name)
    if collection is None:
        raise MongoError(NAMESPACE_NOT_FOUND, f"ns does not exist: {call.namespace(name)}")
    batch_size = call.document("cursor").get("batchSize")
    cursor = call.state.cursors.open(
        call.namespace(name),
        [spec.describe() for spec in collection.indexes.values()],
        batch_size=int(batch_size) if isinstance(batch_size, int | float) else None,
    )
    return {"cursor": cursor}


def drop_indexes(call: Call) -> Reply:
    name = call.collection()
    collection = call.state.storage.get(call.database, name)
    if collection is None:
        raise MongoError(NAMESPACE_NOT_FOUND, f"ns not found {call.namespace(name)}")
    before = len(collection.indexes)
    for index_name in _index_names(collection, call.body.get("index")):
        collection.drop_index(index_name)
    return {"nIndexesWas": before}


def _index_names(collection: CollectionStore, selector: Any) -> list[str]:
    if selector == "*":
        return [name for name in collection.indexes if name != ID_INDEX_NAME]
    if isinstance(selector, str):
        return [selector]
    if isinstance(selector, list) and all(isinstance(name, str) for name in selector):
        return list(selector)
    if isinstance(selector, Mapping):
        return [collection.index_named_by_key(selector)]
    raise MongoError(INDEX_NOT_FOUND, f"invalid index specification: {selector!r}")


def rename_collection(call: Call) -> Reply:
    source, target = call.body.get("renameCollection"), call.body.get("to")
    if not isinstance(source, str) or not isinstance(target, str):
        raise MongoError(BAD_VALUE, "renameCollection and to must be namespace strings")
    source_db, _, source_name = source.partition(".")
    target_db, _, target_name = target.partition(".")
    storage = call.state.storage
    if storage.get(source_db, source_name) is None:
        raise MongoError(NAMESPACE_NOT_FOUND, "source namespace does not exist")
    if storage.get(target_db, target_name) is not None:
        if not call.flag("dropTarget"):
            raise MongoError(NAMESPACE_EXISTS, "target namespace exists")
        storage.drop(target_db, target_name)
    moved = storage.drop(source_db, source_name)
    assert moved is not None
    storage.attach(moved, target_db, target_name)
    return {}


HANDLERS: dict[str, Handler] = {
    "create": create,
    "drop": drop,
    "dropDatabase": drop_database,
    "listCollections": list_collections,
    "listDatabases": list_databases,
    "createIndexes": create_indexes,
    "listIndexes": list_indexes,
    "dropIndexes": drop_indexes,
    "deleteIndexes": drop_indexes,
    "renameCollection": rename_collection,
}
