"""The dev MongoDB wire server, exercised only through pymongo as the application uses it."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import pytest
from bson import Decimal128, ObjectId
from pymongo import DeleteOne, InsertOne, MongoClient, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    DuplicateKeyError,
    OperationFailure,
)

from dev.mongo_wire_server import MongoWireServer

REPO_ROOT = Path(__file__).resolve().parents[2]
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def server() -> Iterator[MongoWireServer]:
    with MongoWireServer(port=0) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: MongoWireServer) -> Iterator[MongoClient[Doc]]:
    connected: MongoClient[Doc] = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    with connected:
        yield connected


@pytest.fixture
def db(client: MongoClient[Doc]) -> Iterator[Database[Doc]]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield client[name]
    client.drop_database(name)


def scanned(client: MongoClient[Doc]) -> int:
    status = client.admin.command("serverStatus")
    return int(status["metrics"]["queryExecutor"]["scannedObjects"])


# --- connection -------------------------------------------------------------------------------


def test_handshake_and_ping(server: MongoWireServer, client: MongoClient[Doc]) -> None:
    assert server.port > 0
    assert server.uri == f"mongodb://127.0.0.1:{server.port}"
    assert client.admin.command("ping")["ok"] == 1.0
    hello = client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert hello["maxWireVersion"] >= 21
    assert {"maxBsonObjectSize", "maxMessageSizeBytes", "maxWriteBatchSize", "connectionId"} <= set(
        hello
    )
    assert client.server_info()["version"].startswith("7.")


def test_unknown_command_is_command_not_found(db: Database[Doc]) -> None:
    with pytest.raises(OperationFailure) as raised:
        db.command("noSuchCommand")
    assert raised.value.code == 59
    assert raised.value.details is not None
    assert raised.value.details["codeName"] == "CommandNotFound"


def test_bad_query_raises_operation_failure(db: Database[Doc]) -> None:
    db.items.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as raised:
        db.items.find_one({"a": {"$bogus": 1}})
    assert raised.value.code == 2
    assert "$bogus" in str(raised.value)
    with pytest.raises(OperationFailure):
        db.items.find_one({"$nope": 1})


# --- CRUD -------------------------------------------------------------------------------------


def test_crud_round_trip(db: Database[Doc]) -> None:
    items = db.items
    inserted = items.insert_one({"name": "a", "n": 1, "nested": {"x": [1, 2]}})
    assert items.find_one({"_id": inserted.inserted_id}) == {
        "_id": inserted.inserted_id,
        "name": "a",
        "n": 1,
        "nested": {"x": [1, 2]},
    }
    result = items.update_one({"name": "a"}, {"$set": {"nested.y": True}, "$inc": {"n": 2}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert items.find_one({"name": "a"}, {"_id": 0}) == {
        "name": "a",
        "n": 3,
        "nested": {"x": [1, 2], "y": True},
    }
    unchanged = items.update_one({"name": "a"}, {"$set": {"n": 3}})
    assert (unchanged.matched_count, unchanged.modified_count) == (1, 0)
    items.replace_one({"name": "a"}, {"name": "b"})
    assert items.find_one({}, {"_id": 0}) == {"name": "b"}
    items.insert_many([{"name": "c"}, {"name": "d"}])
    assert items.delete_one({"name": "b"}).deleted_count == 1
    assert items.delete_many({}).deleted_count == 2
    assert items.find_one() is None


def test_sort_skip_limit_projection(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": i, "n": i % 5, "label": f"l{i}", "x": i} for i in range(20)])
    found = list(
        db.items.find({"n": {"$gte": 2}}, {"label": 1, "_id": 0})
        .sort([("n", -1), ("x", 1)])
        .skip(2)
        .limit(3)
    )
    assert found == [{"label": "l14"}, {"label": "l19"}, {"label": "l3"}]
    excluded = db.items.find_one({"_id": 7}, {"x": 0, "label": 0})
    assert excluded == {"_id": 7, "n": 2}


def test_get_more_over_many_documents(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": i} for i in range(250)])
    cursor = db.items.find({}, batch_size=7).sort("_id", 1)
    assert [doc["_id"] for doc in cursor] == list(range(250))
    assert len(list(db.items.find())) == 250  # default first batch of 101, then getMore


def test_kill_cursors_and_cursor_not_found(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": i} for i in range(10)])
    reply = db.command("find", "items", batchSize=2)
    cursor_id = reply["cursor"]["id"]
    assert cursor_id != 0 and len(reply["cursor"]["firstBatch"]) == 2
    more = db.command("getMore", cursor_id, collection="items", batchSize=3)
    assert [doc["_id"] for doc in more["cursor"]["nextBatch"]] == [2, 3, 4]
    killed = db.command("killCursors", "items", cursors=[cursor_id])
    assert killed["cursorsKilled"] == [cursor_id]
    with pytest.raises(OperationFailure) as raised:
        db.command("getMore", cursor_id, collection="items")
    assert raised.value.code == 43


def test_upsert(db: Database[Doc]) -> None:
    items = db.items
    result = items.update_one(
        {"tenant": "t1", "serial": "s1", "n": {"$gt": 5}},
        {"$set": {"status": "new"}, "$setOnInsert": {"created": True}},
        upsert=True,
    )
    assert result.matched_count == 0 and result.upserted_id is not None
    document = items.find_one({"_id": result.upserted_id}, {"_id": 0})
    assert document == {"tenant": "t1", "serial": "s1", "status": "new", "created": True}
    again = items.update_one(
        {"tenant": "t1", "serial": "s1"},
        {"$set": {"status": "seen"}, "$setOnInsert": {"created": False}},
        upsert=True,
    )
    assert (again.matched_count, again.modified_count, again.upserted_id) == (1, 1, None)
    assert items.find_one({"serial": "s1"}, {"_id": 0, "status": 1, "created": 1}) == {
        "status": "seen",
        "created": True,
    }
    replaced = items.replace_one({"_id": "fixed"}, {"v": 1}, upsert=True)
    assert replaced.upserted_id == "fixed"
    assert items.find_one({"_id": "fixed"}) == {"_id": "fixed", "v": 1}


def test_array_filters_and_all_positional(db: Database[Doc]) -> None:
    db.orders.insert_one(
        {
            "_id": 1,
            "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 8}, {"sku": "c", "qty": 9}],
        }
    )
    db.orders.update_one(
        {"_id": 1},
        {"$set": {"items.$[big].bulk": True}, "$inc": {"items.$[big].qty": 1}},
        array_filters=[{"big.qty": {"$gt": 5}}],
    )
    db.orders.update_one({"_id": 1}, {"$set": {"items.$[].checked": 1}})
    document = db.orders.find_one({"_id": 1})
    assert document is not None
    assert document["items"] == [
        {"sku": "a", "qty": 2, "checked": 1},
        {"sku": "b", "qty": 9, "bulk": True, "checked": 1},
        {"sku": "c", "qty": 10, "bulk": True, "checked": 1},
    ]
    with pytest.raises(OperationFailure):
        db.orders.update_one({"_id": 1}, {"$set": {"items.$[missing].x": 1}})


def test_find_one_and_modify_variants(db: Database[Doc]) -> None:
    items = db.items
    items.insert_many([{"_id": i, "rank": i, "state": "idle"} for i in range(5)])
    before = items.find_one_and_update(
        {"state": "idle"}, {"$set": {"state": "busy"}}, sort=[("rank", -1)]
    )
    assert before == {"_id": 4, "rank": 4, "state": "idle"}
    after = items.find_one_and_update(
        {"state": "idle"},
        {"$set": {"state": "busy"}},
        sort=[("rank", 1)],
        projection={"state": 1},
        return_document=ReturnDocument.AFTER,
    )
    assert after == {"_id": 0, "state": "busy"}
    created = items.find_one_and_update(
        {"_id": 99}, {"$set": {"state": "new"}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert created == {"_id": 99, "state": "new"}
    assert items.find_one_and_update({"_id": 100}, {"$set": {"x": 1}}) is None
    replaced = items.find_one_and_replace(
        {"_id": 1}, {"state": "replaced"}, return_document=ReturnDocument.AFTER
    )
    assert replaced == {"_id": 1, "state": "replaced"}
    assert items.find_one_and_delete({"_id": 2}) == {"_id": 2, "rank": 2, "state": "idle"}
    assert items.find_one({"_id": 2}) is None
    assert items.find_one_and_delete({"_id": 2}) is None


def test_aggregate_match_group_sort(db: Database[Doc]) -> None:
    db.sales.insert_many(
        [{"store": f"s{i % 3}", "amount": i, "kind": "a" if i % 2 else "b"} for i in range(12)]
    )
    result = list(
        db.sales.aggregate(
            [
                {"$match": {"kind": "a"}},
                {"$group": {"_id": "$store", "total": {"$sum": "$amount"}, "n": {"$sum": 1}}},
                {"$sort": {"total": -1}},
            ]
        )
    )
    assert result == [
        {"_id": "s2", "total": 16, "n": 2},
        {"_id": "s0", "total": 12, "n": 2},
        {"_id": "s1", "total": 8, "n": 2},
    ]


def test_aggregate_lookup_uses_other_collection(db: Database[Doc]) -> None:
    db.passes.insert_many([{"_id": "p1", "owner": "u1"}, {"_id": "p2", "owner": "u2"}])
    db.users.insert_many([{"_id": "u1", "name": "Ann"}])
    joined = list(
        db.passes.aggregate(
            [
                {
                    "$lookup": {
                        "from": "users",
                        "localField": "owner",
                        "foreignField": "_id",
                        "as": "u",
                    }
                },
                {"$sort": {"_id": 1}},
            ]
        )
    )
    assert [doc["u"] for doc in joined] == [[{"_id": "u1", "name": "Ann"}], []]
    assert db.users.find_one({"_id": "u1"}) == {"_id": "u1", "name": "Ann"}


def test_distinct_and_counts(db: Database[Doc]) -> None:
    db.items.insert_many([{"tag": t, "tags": [t, "all"], "n": i} for i, t in enumerate("aabcc")])
    assert sorted(db.items.distinct("tag")) == ["a", "b", "c"]
    assert sorted(db.items.distinct("tags", {"n": {"$gte": 3}})) == ["all", "c"]
    assert db.items.count_documents({}) == 5
    assert db.items.count_documents({"tag": "c"}) == 2
    assert db.items.count_documents({}, skip=1, limit=3) == 3
    assert db.items.count_documents({}, skip=4, limit=3) == 1
    assert db.items.count_documents({}, skip=9) == 0
    assert db.items.count_documents({"tag": "c"}, limit=1) == 1
    assert db.items.estimated_document_count() == 5
    assert db.empty.count_documents({}) == 0
    assert db.empty.estimated_document_count() == 0


@pytest.mark.parametrize("indexed", [False, True])
def test_null_queries_through_a_missing_null_or_scalar_parent(
    db: Database[Doc], indexed: bool
) -> None:
    # MongoDB: a dotted path through a missing, null or scalar parent is a missing field, so
    # `{"a.b": null}` matches it and `{"a.b": {"$ne": null}}` does not (only documents where
    # a.b exists and is not null do).
    if indexed:
        db.items.create_index("a.b")
    db.items.insert_many(
        [
            {"_id": "no-a"},
            {"_id": "a-null", "a": None},
            {"_id": "a-scalar", "a": 5},
            {"_id": "a-empty", "a": {}},
            {"_id": "b-null", "a": {"b": None}},
            {"_id": "b-set", "a": {"b": 1}},
        ]
    )
    nulls = ["a-empty", "a-null", "a-scalar", "b-null", "no-a"]

    def ids(query: Doc) -> list[str]:
        return sorted(document["_id"] for document in db.items.find(query))

    assert ids({"a.b": None}) == nulls
    assert ids({"a.b": {"$eq": None}}) == nulls
    assert ids({"a.b": {"$ne": None}}) == ["b-set"]
    assert ids({"a.b": {"$exists": False}}) == ["a-empty", "a-null", "a-scalar", "no-a"]
    assert ids({"a.b": {"$exists": True}}) == ["b-null", "b-set"]
    assert db.items.count_documents({"a.b": {"$ne": None}}) == 1


# --- catalog ----------------------------------------------------------------------------------


def test_collections_and_databases(client: MongoClient[Doc], db: Database[Doc]) -> None:
    db.create_collection("explicit")
    with pytest.raises(CollectionInvalid):
        db.create_collection("explicit")
    db.implicit.insert_one({})
    assert sorted(db.list_collection_names()) == ["explicit", "implicit"]
    assert db.name in client.list_database_names()
    db.explicit.drop()
    db.never_existed.drop()  # dropping a missing collection is not an error for pymongo
    assert db.list_collection_names() == ["implicit"]
    client.drop_database(db.name)
    assert db.name not in client.list_database_names()


def test_create_list_drop_indexes(db: Database[Doc]) -> None:
    db.passes.insert_one({"tenant": "t", "passType": "p", "identifiers": {"crm": "c1"}})
    assert db.passes.create_index([("tenant", 1), ("passType", -1)], unique=True) == (
        "tenant_1_passType_-1"
    )
    db.passes.create_index("identifiers.crm", sparse=True)
    db.passes.create_index("identifiers.crm", sparse=True)  # same spec again: no-op
    info = db.passes.index_information()
    assert set(info) == {"_id_", "tenant_1_passType_-1", "identifiers.crm_1"}
    assert info["tenant_1_passType_-1"]["key"] == [("tenant", 1), ("passType", -1)]
    assert info["tenant_1_passType_-1"]["unique"] is True
    assert info["identifiers.crm_1"]["sparse"] is True
    db.passes.drop_index("identifiers.crm_1")
    assert set(db.passes.index_information()) == {"_id_", "tenant_1_passType_-1"}
    with pytest.raises(OperationFailure):
        db.passes.drop_index("no_such_index")
    db.passes.drop_indexes()
    assert list(db.passes.index_information()) == ["_id_"]


def test_unique_index_build_fails_on_existing_duplicates(db: Database[Doc]) -> None:
    db.users.insert_many([{"email": "a@x"}, {"email": "a@x"}])
    with pytest.raises(DuplicateKeyError):
        db.users.create_index("email", unique=True)
    assert list(db.users.index_information()) == ["_id_"]


# --- uniqueness -------------------------------------------------------------------------------


def snapshot(collection: Collection[Doc]) -> list[Doc]:
    return list(collection.find().sort("_id", 1))


def test_duplicate_key_errors_leave_collection_untouched(db: Database[Doc]) -> None:
    users = db.users
    users.create_index("email", unique=True)
    users.insert_many([{"_id": 1, "email": "a@x", "n": 0}, {"_id": 2, "email": "b@x", "n": 0}])
    before = snapshot(users)

    with pytest.raises(DuplicateKeyError) as raised:
        users.insert_one({"_id": 3, "email": "a@x"})
    assert raised.value.code == 11000
    assert str(raised.value).startswith(
        f"E11000 duplicate key error collection: {db.name}.users index: email_1 dup key: "
        '{ email: "a@x" }'
    )
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"_id": 1, "email": "new@x"})
    with pytest.raises(DuplicateKeyError):
        users.update_one({"_id": 2}, {"$set": {"email": "a@x"}, "$inc": {"n": 1}})
    with pytest.raises(DuplicateKeyError):
        users.replace_one({"_id": 2}, {"email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        users.update_one({"_id": 9}, {"$set": {"email": "b@x"}}, upsert=True)
    with pytest.raises(DuplicateKeyError):
        users.find_one_and_update({"_id": 1}, {"$set": {"email": "b@x"}, "$inc": {"n": 5}})
    with pytest.raises(DuplicateKeyError):
        users.find_one_and_update({"_id": 8}, {"$set": {"email": "b@x"}}, upsert=True)
    assert snapshot(users) == before
    assert users.find_one({"email": "b@x"}) == {"_id": 2, "email": "b@x", "n": 0}


def test_compound_unique_index(db: Database[Doc]) -> None:
    db.passes.create_index([("tenant", 1), ("serial", 1)], unique=True)
    db.passes.insert_many([{"tenant": "a", "serial": 1}, {"tenant": "b", "serial": 1}])
    with pytest.raises(DuplicateKeyError) as raised:
        db.passes.insert_one({"tenant": "a", "serial": 1.0})  # 1 and 1.0 are the same key
    assert "dup key: { tenant: " in str(raised.value)
    assert db.passes.count_documents({}) == 2


def test_unordered_insert_many_with_duplicate_inserts_the_rest(db: Database[Doc]) -> None:
    documents = [{"_id": i} for i in (1, 2, 2, 3, 4)]
    with pytest.raises(BulkWriteError) as raised:
        db.unordered.insert_many([dict(d) for d in documents], ordered=False)
    details = raised.value.details
    assert details["nInserted"] == 4
    assert [(error["index"], error["code"]) for error in details["writeErrors"]] == [(2, 11000)]
    assert sorted(doc["_id"] for doc in db.unordered.find()) == [1, 2, 3, 4]

    with pytest.raises(BulkWriteError) as ordered:
        db.ordered.insert_many([dict(d) for d in documents])
    assert ordered.value.details["nInserted"] == 2
    assert sorted(doc["_id"] for doc in db.ordered.find()) == [1, 2]


def test_bulk_write_mixed_operations(db: Database[Doc]) -> None:
    db.items.insert_many([{"_id": i, "n": 0} for i in range(3)])
    result = db.items.bulk_write(
        [
            InsertOne({"_id": 10, "n": 0}),
            UpdateOne({"_id": 0}, {"$inc": {"n": 1}}),
            UpdateOne({"_id": 50}, {"$set": {"n": 5}}, upsert=True),
            DeleteOne({"_id": 1}),
        ]
    )
    assert (result.inserted_count, result.modified_count, result.deleted_count) == (1, 1, 1)
    assert result.upserted_ids == {2: 50}
    assert sorted(doc["_id"] for doc in db.items.find()) == [0, 2, 10, 50]


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_increments_from_threads(server: MongoWireServer, db: Database[Doc]) -> None:
    db.counters.insert_one({"_id": "c", "n": 0})
    threads_count, increments = 8, 100

    def work() -> None:
        own: MongoClient[Doc] = MongoClient(server.uri)  # a client (and pool) per thread
        with own:
            counters = own[db.name].counters
            for _ in range(increments):
                counters.update_one({"_id": "c"}, {"$inc": {"n": 1}})

    workers = [threading.Thread(target=work) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert db.counters.find_one({"_id": "c"}) == {"_id": "c", "n": threads_count * increments}


_INCREMENT_SCRIPT = """
import sys, threading
from pymongo import MongoClient
uri, db_name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = MongoClient(uri, maxPoolSize=4)
counters = client[db_name].counters
def work():
    for _ in range(count):
        counters.update_one({"_id": "c"}, {"$inc": {"n": 1}})
        counters.find_one_and_update({"_id": "c"}, {"$inc": {"m": 1}})
threads = [threading.Thread(target=work) for _ in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
client.close()
"""


def test_concurrent_increments_from_processes(server: MongoWireServer, db: Database[Doc]) -> None:
    db.counters.insert_one({"_id": "c", "n": 0, "m": 0})
    processes_count, per_thread = 3, 60
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _INCREMENT_SCRIPT, server.uri, db.name, str(per_thread)]
        )
        for _ in range(processes_count)
    ]
    try:
        assert [process.wait(timeout=60) for process in processes] == [0] * processes_count
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    expected = processes_count * 3 * per_thread
    assert db.counters.find_one({"_id": "c"}) == {"_id": "c", "n": expected, "m": expected}


# --- indexes ----------------------------------------------------------------------------------


def test_index_stays_correct_across_writes(db: Database[Doc]) -> None:
    passes = db.passes
    passes.create_index("identifiers.crm")
    passes.create_index("tags")
    passes.insert_many(
        [{"_id": i, "identifiers": {"crm": f"c{i}"}, "tags": [f"t{i % 3}"]} for i in range(30)]
    )
    passes.update_one({"_id": 5}, {"$set": {"identifiers.crm": "changed"}})
    assert passes.find_one({"identifiers.crm": "c5"}) is None
    assert passes.find_one({"identifiers.crm": "changed"}, {"_id": 1}) == {"_id": 5}

    passes.replace_one({"_id": 6}, {"identifiers": {"crm": "replaced"}, "tags": []})
    assert passes.find_one({"identifiers.crm": "c6"}) is None
    assert passes.find_one({"identifiers.crm": "replaced"}, {"_id": 1}) == {"_id": 6}

    passes.update_many({"_id": {"$in": [1, 2]}}, {"$push": {"tags": "vip"}})
    assert sorted(d["_id"] for d in passes.find({"tags": "vip"})) == [1, 2]
    passes.update_one({"_id": 1}, {"$pull": {"tags": "vip"}})
    assert [d["_id"] for d in passes.find({"tags": {"$in": ["vip"]}})] == [2]
    assert passes.count_documents({"tags": "t0"}) == 9  # 0..27 step 3, minus _id 6 (emptied)

    passes.delete_one({"identifiers.crm": "changed"})
    assert passes.find_one({"_id": 5}) is None
    assert passes.find_one({"identifiers.crm": "changed"}) is None
    passes.delete_many({"tags": "t1"})
    assert passes.count_documents({"tags": "t1"}) == 0

    passes.insert_one({"_id": "num", "identifiers": {"crm": 7}})
    assert passes.find_one({"identifiers.crm": 7.0}, {"_id": 1}) == {"_id": "num"}
    assert passes.find_one({"identifiers.crm": {"$in": ["x", 7]}}, {"_id": 1}) == {"_id": "num"}
    assert passes.find_one({"identifiers": {"crm": 7}}, {"_id": 1}) == {"_id": "num"}

    passes.drop()
    passes.insert_one({"_id": 1, "identifiers": {"crm": "c1"}})
    assert passes.find_one({"identifiers.crm": "c1"}) == {"_id": 1, "identifiers": {"crm": "c1"}}


def test_indexed_and_unindexed_collections_answer_alike(db: Database[Doc]) -> None:
    """Randomised (fixed seed) check that hash indexes never change a query's answer, for
    awkward values too: numbers of several types, arrays, embedded documents, nulls, missing."""
    rng = random.Random(20240601)
    scalars: list[Any] = [1, 1.0, 2, True, None, "a", "1", 2.5, Decimal128("2"), ObjectId()]

    def value(depth: int = 0) -> Any:
        roll = rng.random()
        if depth < 2 and roll < 0.2:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        if depth < 2 and roll < 0.35:
            return {key: value(depth + 1) for key in rng.sample(["b", "c"], rng.randint(1, 2))}
        return rng.choice(scalars)

    indexed, plain = db.indexed, db.plain
    for path in ("a", "a.b", "x"):
        indexed.create_index(path)
    documents = [
        {"_id": i, **{key: value() for key in ("a", "x") if rng.random() < 0.85}}
        for i in range(150)
    ]
    indexed.insert_many([dict(document) for document in documents])
    plain.insert_many([dict(document) for document in documents])
    for step in range(150):
        path, wanted = rng.choice(["a", "a.b", "x"]), value()
        query = rng.choice(
            [
                {path: wanted},
                {path: {"$in": [wanted, value()]}},
                {"$or": [{path: wanted}, {"x": value()}]},
                # An index for one condition, the other checked on its own (plain values
                # without mongomock, anything else by it).
                {path: wanted, rng.choice(["a", "a.b", "x"]): value()},
            ]
        )
        assert list(indexed.find(query)) == list(plain.find(query)), query
        skip, limit = rng.randrange(3), rng.randrange(1, 4)  # a $limit of 0 is an error
        counted = [c.count_documents(query, skip=skip, limit=limit) for c in (indexed, plain)]
        assert counted[0] == counted[1] == len(list(plain.find(query, skip=skip, limit=limit)))
        if step % 3 == 0:  # keep changing indexed values so index maintenance is exercised
            change = {"$set": {rng.choice(["a", "a.b", "x"]): value()}}
            target = {"_id": rng.randrange(150)}
            for collection in (indexed, plain):
                with contextlib.suppress(OperationFailure):
                    collection.update_one(target, change)


def test_lookups_use_indexes_instead_of_scanning(
    client: MongoClient[Doc], db: Database[Doc]
) -> None:
    passes = db.passes
    passes.insert_many(
        [{"_id": f"id{i}", "tenant": f"t{i % 4}", "code": f"c{i}"} for i in range(5000)]
    )
    passes.create_index("code")

    def examined(operation: Any) -> int:
        before = scanned(client)
        operation()
        return scanned(client) - before

    assert examined(lambda: passes.find_one({"_id": "id4321"})) <= 2
    assert examined(lambda: passes.find_one({"code": "c17"})) <= 2
    assert examined(lambda: passes.find_one({"tenant": "t1", "_id": "id4321"})) <= 2
    ids = [f"id{i}" for i in range(0, 500, 50)]
    assert examined(lambda: list(passes.find({"_id": {"$in": ids}}))) <= len(ids)
    assert examined(lambda: passes.update_one({"code": "c99"}, {"$set": {"x": 1}})) <= 2
    assert examined(lambda: passes.update_many({"_id": {"$in": ids}}, {"$set": {"y": 1}})) <= 10
    assert examined(lambda: passes.count_documents({"code": "c99", "x": 1})) <= 2
    assert examined(lambda: passes.find_one_and_update({"_id": "id7"}, {"$inc": {"z": 1}})) <= 2
    assert examined(lambda: passes.delete_one({"_id": "id8"})) <= 2
    assert examined(lambda: passes.find_one({"$or": [{"_id": "id1"}, {"code": "c2"}]})) <= 2
    # For contrast, an unindexed field has to be scanned.
    assert examined(lambda: passes.find_one({"tenant": "t9"})) >= 4999


def test_sorted_by_id_with_a_limit_walks_the_id_order_and_stops(
    client: MongoClient[Doc], db: Database[Doc]
) -> None:
    """A campaign pages through a segment with `_id > cursor`, sorted by `_id`, 500 at a time:
    like mongod's `_id` index, the server must not match and sort the whole segment per page."""
    passes = db.passes
    rng = random.Random(7)
    ids = [f"p{rng.randrange(10**9):09d}" for _ in range(6000)]
    ids = list(dict.fromkeys(ids))
    passes.insert_many([{"_id": i, "tenant": f"t{n % 2}"} for n, i in enumerate(ids)])
    passes.create_index("tenant")
    segment = {"tenant": "t0"}
    expected = sorted(i for n, i in enumerate(ids) if n % 2 == 0)
    cursor, pages, before = None, [], scanned(client)
    while True:
        where = segment if cursor is None else {"$and": [segment, {"_id": {"$gt": cursor}}]}
        page = [d["_id"] for d in passes.find(where, {"_id": 1}, sort=[("_id", 1)], limit=500)]
        if not page:
            break
        pages.append(page)
        cursor = page[-1]
    assert [i for page in pages for i in page] == expected
    # Each page examines its own 500 ids, not the whole 3,000-pass segment again.
    assert scanned(client) - before <= len(expected) + 500


def test_id_order_follows_inserts_deletes_and_reinserts(db: Database[Doc]) -> None:
    items = db.items
    rng = random.Random(11)
    live: dict[str, int] = {}
    for step in range(1500):
        action = rng.random()
        key = f"k{rng.randrange(400):03d}"
        if action < 0.5 and key not in live:
            items.insert_one({"_id": key, "n": step % 3})
            live[key] = step % 3
        elif action < 0.75 and key in live:
            items.delete_one({"_id": key})
            del live[key]
        elif step % 10 == 0:
            bound, limit = f"k{rng.randrange(400):03d}", rng.choice([1, 5, 50])
            up = {"$and": [{"n": {"$ne": 1}}, {"_id": {"$gte": bound}}]}
            down = {"_id": {"$lt": bound}}
            got_up = [d["_id"] for d in items.find(up).sort("_id", 1).limit(limit)]
            got_down = [d["_id"] for d in items.find(down).sort("_id", -1).limit(limit)]
            ascending = sorted(live)
            want_up = [k for k in ascending if k >= bound and live[k] != 1][:limit]
            want_down = [k for k in reversed(ascending) if k < bound][:limit]
            assert (got_up, got_down) == (want_up, want_down), (step, bound)
    # Mixed id types fall back to matching and sorting in BSON order (numbers before strings).
    items.insert_one({"_id": 5, "n": 0})
    assert [d["_id"] for d in items.find().sort("_id", 1).limit(2)] == [5, sorted(live)[0]]


# --- command line -----------------------------------------------------------------------------


def test_command_line_server_prints_uri_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dev.mongo_wire_server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        prefix = "mongo wire server listening on mongodb://127.0.0.1:"
        assert line.startswith(prefix) and int(line.removeprefix(prefix)) > 0
        uri = line.rsplit(" ", 1)[1]
        cli_client: MongoClient[Doc] = MongoClient(uri, serverSelectionTimeoutMS=5000)
        with cli_client:
            cli_client.demo.items.insert_one({"_id": 1})
            assert cli_client.demo.items.find_one() == {"_id": 1}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_plain_equalities_beside_an_index_answer_as_the_matcher(db: Database[Doc]) -> None:
    """With an index on `tenant`, the other equalities are checked without the matcher where
    a value is a plain scalar; booleans, numbers of two types, an array, a missing field and a
    nested value get the same answer as an unindexed collection's matcher gives."""
    documents = [
        {"_id": "bool", "tenant": "t", "flag": True},
        {"_id": "int", "tenant": "t", "flag": 1},
        {"_id": "float", "tenant": "t", "flag": 1.0},
        {"_id": "array", "tenant": "t", "flag": [1, "x"]},
        {"_id": "nested", "tenant": "t", "flag": {"v": 1}},
        {"_id": "missing", "tenant": "t"},
        {"_id": "other", "tenant": "u", "flag": 1},
    ]
    db.indexed.create_index("tenant")
    db.indexed.insert_many([dict(d) for d in documents])
    db.plain.insert_many([dict(d) for d in documents])
    queries: list[Doc] = [
        {"tenant": "t", "flag": True},
        {"tenant": "t", "flag": 1},
        {"tenant": "t", "flag": {"$in": ["x", False]}},
        {"tenant": "t", "flag": None},
        {"tenant": "t", "flag": 1, "_id": {"$gt": "float"}},
        {"tenant": "t", "flag.v": 1},
    ]
    for query in queries:
        found = sorted(d["_id"] for d in db.indexed.find(query))
        assert found == sorted(d["_id"] for d in db.plain.find(query)), query
        assert db.indexed.count_documents(query) == len(found), query
    assert {"array", "float", "int"} <= {d["_id"] for d in db.indexed.find(queries[1])}


def test_projections_answer_as_mongomock_does(db: Database[Doc]) -> None:
    """The server's own copy of the plain projection shapes (top-level fields kept, paths
    through embedded documents left out) gives what mongomock's projection gives, over
    documents with nulls, scalars, nested and missing values on the way (arrays only under
    `x`: mongomock cannot project a dotted path through them either)."""
    rng = random.Random(20261206)

    def value(depth: int = 0, *, arrays: bool) -> Any:
        roll = rng.random()
        if depth < 3 and roll < 0.45:
            keys = rng.sample(["b", "c", "d"], rng.randint(0, 3))
            return {k: value(depth + 1, arrays=arrays) for k in keys}
        if arrays and depth < 3 and roll < 0.6:
            return [value(depth + 1, arrays=arrays) for _ in range(rng.randint(0, 2))]
        return rng.choice([1, "s", None, 2.5, True])

    documents = [
        {
            "_id": i,
            **({"a": value(arrays=False)} if rng.random() < 0.8 else {}),
            **({"x": value(arrays=True)} if rng.random() < 0.8 else {}),
        }
        for i in range(200)
    ]
    reference = mongomock.MongoClient().db.items
    reference.insert_many([dict(d) for d in documents])
    db.items.insert_many([dict(d) for d in documents])
    projections: list[Doc] = [
        {"a": 0},
        {"a.b": 0},
        {"a.b.c": 0, "x": 0},
        {"_id": 0},
        {"a.b": False, "a.c": 0},
        {"a": 1},
        {"a": 1, "_id": 0},
        {"x": True, "a": 1},
        {"a.b": 1},  # a nested inclusion: mongomock's own path
    ]
    for projection in projections:
        found = list(db.items.find({}, projection).sort("_id", 1))
        assert found == list(reference.find({}, projection).sort("_id", 1)), projection
    stored = db.items.find_one({"_id": 0})
    assert stored == documents[0]  # leaving fields out of an answer changes nothing stored
