"""Reads, writes and cursors: find, getMore, killCursors, insert, update, delete, findAndModify,
aggregate, count and distinct, with mongod's reply shapes (`writeErrors`, `cursor`, ...)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from . import mongomock_ops
from .context import Call, Handler, Reply
from .engine import NO_UPSERT
from .errors import BAD_VALUE, FAILED_TO_PARSE, NOT_IMPLEMENTED, MongoError
from .updates import UpdateSpec


def find(call: Call) -> Reply:
    name = call.collection()
    skip, limit = call.integer("skip"), call.integer("limit")
    if skip < 0:
        raise MongoError(BAD_VALUE, "skip value must be non-negative")
    single_batch = call.flag("singleBatch") or limit < 0
    if call.flag("tailable") or call.flag("awaitData"):
        raise MongoError(NOT_IMPLEMENTED, "tailable cursors are not supported by the dev server")
    documents = call.state.engine.find(
        call.database,
        name,
        call.document("filter"),
        sort=list(call.document("sort").items()),
        skip=skip,
        limit=abs(limit),
    )
    projection = call.document("projection")
    cursor = call.state.cursors.open(
        call.namespace(name),
        documents,
        batch_size=call.optional_integer("batchSize"),
        single_batch=single_batch,
        immortal=call.flag("noCursorTimeout"),
        transform=functools.partial(mongomock_ops.project, projection=projection)
        if projection
        else None,
    )
    return {"cursor": cursor}


def get_more(call: Call) -> Reply:
    cursor_id = call.body["getMore"]
    if not isinstance(cursor_id, int):
        raise MongoError(BAD_VALUE, "getMore needs a cursor id")
    return {"cursor": call.state.cursors.get_more(cursor_id, call.optional_integer("batchSize"))}


def kill_cursors(call: Call) -> Reply:
    killed, not_found = call.state.cursors.kill(call.array("cursors"))
    return {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": [],
        "cursorsUnknown": [],
    }


def insert(call: Call) -> Reply:
    name = call.collection()
    ordered = call.flag("ordered", default=True)
    inserted = 0
    errors: list[dict[str, Any]] = []
    for index, document in enumerate(call.array("documents")):
        try:
            call.state.engine.insert(call.database, name, document)
            inserted += 1
        except MongoError as error:
            errors.append(error.as_write_error(index))
            if ordered:
                break
    return _with_errors({"n": inserted}, errors)


def update(call: Call) -> Reply:
    name = call.collection()
    ordered = call.flag("ordered", default=True)
    matched = modified = 0
    upserted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, statement in enumerate(call.array("updates")):
        try:
            outcome = _run_update_statement(call, name, statement)
        except MongoError as error:
            errors.append(error.as_write_error(index))
            if ordered:
                break
            continue
        matched += outcome.matched
        modified += outcome.modified
        if outcome.upserted_id is not NO_UPSERT:
            matched += 1
            upserted.append({"index": index, "_id": outcome.upserted_id})
        if outcome.error is not None:
            errors.append(outcome.error.as_write_error(index))
            if ordered:
                break
    reply: Reply = {"n": matched, "nModified": modified}
    if upserted:
        reply["upserted"] = upserted
    return _with_errors(reply, errors)


def _run_update_statement(call: Call, name: str, statement: Any) -> Any:
    if not isinstance(statement, Mapping) or "u" not in statement:
        raise MongoError(FAILED_TO_PARSE, "an update statement needs 'q' and 'u'")
    spec = UpdateSpec(statement["u"], statement.get("arrayFilters"))
    multi = bool(statement.get("multi", False))
    if multi and spec.kind == "replacement":
        raise MongoError(
            FAILED_TO_PARSE, "multi update is not supported for replacement-style update"
        )
    return call.state.engine.update(
        call.database,
        name,
        _query_of(statement.get("q")),
        spec,
        multi=multi,
        upsert=bool(statement.get("upsert", False)),
    )


def delete(call: Call) -> Reply:
    name = call.collection()
    ordered = call.flag("ordered", default=True)
    deleted = 0
    errors: list[dict[str, Any]] = []
    for index, statement in enumerate(call.array("deletes")):
        try:
            if not isinstance(statement, Mapping) or statement.get("limit") not in (0, 1):
                raise MongoError(
                    FAILED_TO_PARSE, "a delete statement needs 'q' and a limit of 0 or 1"
                )
            deleted += call.state.engine.delete(
                call.database, name, _query_of(statement.get("q")), just_one=statement["limit"] == 1
            )
        except MongoError as error:
            errors.append(error.as_write_error(index))
            if ordered:
                break
    return _with_errors({"n": deleted}, errors)


def find_and_modify(call: Call) -> Reply:
    name = call.collection()
    remove, upsert, return_new = call.flag("remove"), call.flag("upsert"), call.flag("new")
    raw_update = call.body.get("update")
    if remove == (raw_update is not None):
        raise MongoError(FAILED_TO_PARSE, "Either an update or remove=true must be specified")
    if remove and (upsert or return_new):
        raise MongoError(FAILED_TO_PARSE, "Cannot specify both upsert=true or new=true and remove")
    spec = None if remove else UpdateSpec(raw_update, call.array("arrayFilters"))
    value, last_error = call.state.engine.find_and_modify(
        call.database,
        name,
        call.document("query"),
        sort=list(call.document("sort").items()),
        update=spec,
        upsert=upsert,
        return_new=return_new,
    )
    fields = call.document("fields")
    if value is not None and fields:
        value = mongomock_ops.project(value, fields)
    return {"lastErrorObject": last_error, "value": value}


def aggregate(call: Call) -> Reply:
    if not isinstance(call.body["aggregate"], str):
        raise MongoError(NOT_IMPLEMENTED, "database-level aggregation is not supported")
    if call.flag("explain"):
        raise MongoError(NOT_IMPLEMENTED, "explain is not supported by the dev server")
    name = call.collection()
    results = call.state.engine.aggregate(call.database, name, call.array("pipeline"))
    batch_size = call.document("cursor").get("batchSize")
    cursor = call.state.cursors.open(
        call.namespace(name),
        results,
        batch_size=int(batch_size) if isinstance(batch_size, int | float) else None,
    )
    return {"cursor": cursor}


def count(call: Call) -> Reply:
    name = call.collection()
    skip = call.integer("skip")
    if skip < 0:
        raise MongoError(BAD_VALUE, "skip value is negative in count query")
    total = call.state.engine.count(
        call.database, name, call.document("query"), skip=skip, limit=abs(call.integer("limit"))
    )
    return {"n": total}


def distinct(call: Call) -> Reply:
    name = call.collection()
    key = call.body.get("key")
    if not isinstance(key, str) or not key:
        raise MongoError(BAD_VALUE, "distinct needs a 'key' string")
    return {"values": call.state.engine.distinct(call.database, name, key, call.document("query"))}


def _query_of(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MongoError(BAD_VALUE, "a query must be an object")
    return dict(value)


def _with_errors(reply: Reply, errors: list[dict[str, Any]]) -> Reply:
    if errors:
        reply["writeErrors"] = errors
    return reply


HANDLERS: dict[str, Handler] = {
    "find": find,
    "getMore": get_more,
    "killCursors": kill_cursors,
    "insert": insert,
    "update": update,
    "delete": delete,
    "findAndModify": find_and_modify,
    "findandmodify": find_and_modify,
    "aggregate": aggregate,
    "count": count,
    "distinct": distinct,
}
