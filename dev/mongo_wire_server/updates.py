"""Turn an update statement into new document versions: operator updates, replacements and
pipeline updates, for existing documents and for upserts.

mongomock applies the operators; this module adds what it lacks (`arrayFilters` and `$[]`, `$mul`,
dotted `$rename`), MongoDB's validation and `_id` immutability, and builds the upsert seed from
the query's equality conditions. Results are fresh dicts: stored documents are never mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

import bson
from bson import ObjectId

from . import mongomock_ops
from .errors import BAD_VALUE, FAILED_TO_PARSE, IMMUTABLE_FIELD, TYPE_MISMATCH, MongoError
from .keys import canonical_key

Document = dict[str, Any]

MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024
_MONGOMOCK_OPERATORS: Final = frozenset(
    {
        "$set",
        "$unset",
        "$inc",
        "$min",
        "$max",
        "$currentDate",
        "$addToSet",
        "$pop",
        "$pull",
        "$pullAll",
        "$push",
        "$setOnInsert",
    }
)
_OWN_OPERATORS: Final = frozenset({"$mul", "$rename"})


def clone(document: Mapping[str, Any]) -> Document:
    """Deep copy through BSON: fast (C), normalises types, and enforces the size limit."""
    encoded = bson.encode(document)
    if len(encoded) > MAX_DOCUMENT_BYTES:
        raise MongoError(BAD_VALUE, "object to insert too large")
    return bson.decode(encoded)


class UpdateSpec:
    """A validated `u` of an update statement (or `update` of findAndModify)."""

    def __init__(self, update: Any, array_filters: list[Any] | None = None) -> None:
        self._filters = _group_array_filters(array_filters or [])
        if isinstance(update, list):
            self.kind = "pipeline"
        elif isinstance(update, Mapping):
            self.kind = "operators" if any(key.startswith("$") for key in update) else "replacement"
        else:
            raise MongoError(
                FAILED_TO_PARSE, "Update argument must be either an object or an array"
            )
        self._update: Any = update
        if self.kind == "operators":
            _validate_operators(update)
            _check_identifiers(update, self._filters)

    def apply(self, current: Document, query: Mapping[str, Any]) -> Document | None:
        """The updated version of a stored document, or None if the update changes nothing."""
        current_bson = bson.encode(current)
        if self.kind == "replacement":
            if "_id" in self._update and not _same_value(self._update["_id"], current["_id"]):
                raise MongoError(
                    IMMUTABLE_FIELD,
                    "After applying the update, the (immutable) field '_id' was found to have "
                    f"been altered to _id: {self._update['_id']!r}",
                )
            rest = {key: value for key, value in self._update.items() if key != "_id"}
            updated = {"_id": current["_id"], **rest}
        else:
            updated = bson.decode(current_bson)
            if self.kind == "pipeline":
                updated = self._run_pipeline(updated)
            else:
                self._apply_operators(updated, query, was_insert=False)
            if not _same_value(updated.get("_id"), current["_id"]):
                raise MongoError(
                    IMMUTABLE_FIELD,
                    "Performing an update on the path '_id' would modify the immutable field '_id'",
                )
            updated = _id_first(updated, current["_id"])
        updated_bson = bson.encode(updated)
        if updated_bson == current_bson:
            return None
        if len(updated_bson) > MAX_DOCUMENT_BYTES:
            raise MongoError(BAD_VALUE, "Resulting document after update is larger than 16MB")
        return bson.decode(updated_bson)  # a private copy: nothing aliases the update's values

    def build_upsert(self, query: Mapping[str, Any]) -> Document:
        """The document an upsert inserts when nothing matched."""
        seed = upsert_seed(query)
        if self.kind == "replacement":
            replacement = clone(self._update)
            if (
                "_id" in seed
                and "_id" in replacement
                and not _same_value(seed["_id"], replacement["_id"])
            ):
                raise MongoError(
                    IMMUTABLE_FIELD, "The _id field in the query and replacement differ"
                )
            new_id = replacement.pop("_id", seed.get("_id", ObjectId()))
            return {"_id": new_id, **replacement}
        if self.kind == "pipeline":
            working = self._run_pipeline(seed)
        else:
            working = seed
            self._apply_operators(working, query, was_insert=True)
        return _id_first(clone(working), working.get("_id", ObjectId()))

    def _apply_operators(
        self, document: Document, query: Mapping[str, Any], *, was_insert: bool
    ) -> None:
        update = _expand_array_filters(document, self._update, self._filters)
        delegated: Document = {}
        for operator, fields in update.items():
            if operator == "$mul":
                for path, factor in fields.items():
                    _multiply(document, path, factor)
            elif operator == "$rename":
                for source, target in fields.items():
                    _rename(document, source, target)
            else:
                delegated[operator] = fields
        if delegated:
            mongomock_ops.apply_update_operators(document, delegated, query, was_insert)

    def _run_pipeline(self, document: Document) -> Document:
        results = mongomock_ops.run_pipeline([document], list(self._update), None)
        if len(results) != 1:
            raise MongoError(BAD_VALUE, "an update pipeline must produce exactly one document")
        return results[0]


def _validate_operators(update: Mapping[str, Any]) -> None:
    for operator, fields in update.items():
        if operator == "$bit":
            raise MongoError(FAILED_TO_PARSE, "$bit is not supported by the dev server")
        if operator not in _MONGOMOCK_OPERATORS and operator not in _OWN_OPERATORS:
            raise MongoError(
                FAILED_TO_PARSE,
                f"Unknown modifier: {operator}. Expected a valid update modifier or "
                "pipeline-style update specified as an array",
            )
        if not isinstance(fields, Mapping):
            raise MongoError(
                FAILED_TO_PARSE,
                f"Modifiers operate on fields but we found type {type(fields).__name__} instead. "
                f"For example: {{$mod: {{<field>: ...}}}} not {{{operator}: {fields!r}}}",
            )


def upsert_seed(query: Mapping[str, Any]) -> Document:
    """Equality conditions of the query become the fields of the inserted document."""
    seed: Document = {}
    for path, value in _equalities(query):
        _set_path(seed, path, copy.deepcopy(value))
    return seed


def _equalities(query: Mapping[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for field, condition in query.items():
        if field == "$and" and isinstance(condition, list):
            for clause in condition:
                if isinstance(clause, Mapping):
                    found.extend(_equalities(clause))
        elif field.startswith("$"):
            continue
        elif isinstance(condition, Mapping) and any(key.startswith("$") for key in condition):
            if "$eq" in condition:
                found.append((field, condition["$eq"]))
        else:
            found.append((field, condition))
    return found


def _set_path(document: Document, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise MongoError(
                BAD_VALUE, f"cannot infer query fields to set, path '{path}' conflicts"
            )
        node = child
    if last in node:
        raise MongoError(
            BAD_VALUE, f"cannot infer query fields to set, path '{path}' is matched twice"
        )
    node[last] = value


def _id_first(document: Document, document_id: Any) -> Document:
    if next(iter(document), None) == "_id":
        return document
    rest = {key: value for key, value in document.items() if key != "_id"}
    return {"_id": document.get("_id", document_id), **rest}


def _same_value(left: Any, right: Any) -> bool:
    return type(left) is type(right) and canonical_key(left) == canonical_key(right)


# --- operators mongomock lacks --------------------------------------------------------------


def _parent_of(document: Document, path: str, *, create: bool) -> tuple[Any, str] | None:
    """The container holding the last segment of `path` (a dict, or a list for numeric parts)."""
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                if not create:
                    return None
                node[part] = {}
            node = node[part]
        else:
            if not create:
                return None
            raise MongoError(BAD_VALUE, f"Cannot create field '{part}' in element of {path}")
    return node, last


def _multiply(document: Document, path: str, factor: Any) -> None:
    if not _is_number(factor):
        raise MongoError(TYPE_MISMATCH, f"Cannot multiply with non-numeric argument: {factor!r}")
    located = _parent_of(document, path, create=True)
    assert located is not None
    parent, last = located
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        current = parent[int(last)]
        if not _is_number(current):
            raise MongoError(
                TYPE_MISMATCH, f"Cannot apply $mul to a value of non-numeric type {path}"
            )
        parent[int(last)] = current * factor
        return
    if not isinstance(parent, dict):
        raise MongoError(BAD_VALUE, f"Cannot apply $mul to {path}")
    current = parent.get(last, type(factor)(0))
    if not _is_number(current):
        raise MongoError(TYPE_MISMATCH, f"Cannot apply $mul to a value of non-numeric type {path}")
    parent[last] = current * factor


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rename(document: Document, source: str, target: str) -> None:
    if not isinstance(target, str) or source == target:
        raise MongoError(BAD_VALUE, f"$rename target for '{source}' must be a different field name")
    located = _parent_of(document, source, create=False)
    if located is None or not isinstance(located[0], dict) or located[1] not in located[0]:
        return
    value = located[0].pop(located[1])
    target_parent, last = _parent_of(document, target, create=True) or (None, "")
    if not isinstance(target_parent, dict):
        raise MongoError(BAD_VALUE, f"The destination field for $rename is not valid: {target}")
    target_parent[last] = value


# --- arrayFilters ---------------------------------------------------------------------------


def _group_array_filters(array_filters: list[Any]) -> dict[str, Document]:
    grouped: dict[str, Document] = {}
    for array_filter in array_filters:
        if not isinstance(array_filter, Mapping) or not array_filter:
            raise MongoError(FAILED_TO_PARSE, "Cannot use an expression without a top-level field")
        identifiers = {str(key).split(".", 1)[0] for key in array_filter}
        if len(identifiers) != 1:
            raise MongoError(
                FAILED_TO_PARSE,
                "Error parsing array filter: expected a single top-level field name",
            )
        identifier = identifiers.pop()
        if identifier in grouped:
            raise MongoError(
                FAILED_TO_PARSE,
                f"Found multiple array filters with the same top-level field name {identifier}",
            )
        grouped[identifier] = dict(array_filter)
    return grouped


def _check_identifiers(update: Mapping[str, Any], filters: Mapping[str, Document]) -> None:
    used: set[str] = set()
    for fields in update.values():
        for path in fields:
            for part in str(path).split("."):
                if part.startswith("$[") and part.endswith("]") and part != "$[]":
                    identifier = part[2:-1]
                    if identifier not in filters:
                        raise MongoError(
                            BAD_VALUE,
                            f"No array filter found for identifier '{identifier}' in path '{path}'",
                        )
                    used.add(identifier)
    for identifier in filters:
        if identifier not in used:
            raise MongoError(
                FAILED_TO_PARSE,
                f"The array filter for identifier '{identifier}' was not used in the update "
                f"{dict(update)}",
            )


def _expand_array_filters(
    document: Document, update: Mapping[str, Any], filters: Mapping[str, Document]
) -> Document:
    """Rewrite `a.$[x].b` / `a.$[].b` paths into the concrete `a.0.b`, `a.3.b` they target here."""
    expanded: Document = {}
    for operator, fields in update.items():
        concrete: Document = {}
        for path, value in fields.items():
            if "$[" not in path:
                concrete[path] = value
                continue
            for target in _concrete_paths(document, path.split("."), (), filters):
                concrete[target] = value
        expanded[operator] = concrete
    return expanded


def _concrete_paths(
    node: Any, parts: list[str], prefix: tuple[str, ...], filters: Mapping[str, Document]
) -> list[str]:
    for position, part in enumerate(parts):
        if part.startswith("$[") and part.endswith("]"):
            walked = prefix + tuple(parts[:position])
            if not isinstance(node, list):
                raise MongoError(
                    BAD_VALUE,
                    f"The path '{'.'.join(walked)}' must exist in the document in order to apply "
                    "array updates.",
                )
            identifier = part[2:-1]
            targets: list[str] = []
            for index, element in enumerate(node):
                if identifier and not mongomock_ops.matches(
                    filters[identifier], {identifier: element}
                ):
                    continue
                targets.extend(
                    _concrete_paths(element, parts[position + 1 :], (*walked, str(index)), filters)
                )
            return targets
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            node = None
    return [".".join(prefix + tuple(parts))]
