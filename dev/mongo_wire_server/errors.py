"""MongoDB-shaped errors: numeric codes, code names and the duplicate-key message format."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from typing import Any

from bson import ObjectId

BAD_VALUE = 2
FAILED_TO_PARSE = 9
TYPE_MISMATCH = 14
ILLEGAL_OPERATION = 20
NAMESPACE_NOT_FOUND = 26
INDEX_NOT_FOUND = 27
CURSOR_NOT_FOUND = 43
NAMESPACE_EXISTS = 48
COMMAND_NOT_FOUND = 59
IMMUTABLE_FIELD = 66
INVALID_OPTIONS = 72
INVALID_NAMESPACE = 73
INDEX_OPTIONS_CONFLICT = 85
INDEX_KEY_SPECS_CONFLICT = 86
NOT_IMPLEMENTED = 238
INTERNAL_ERROR = 1
DUPLICATE_KEY = 11000

CODE_NAMES = {
    BAD_VALUE: "BadValue",
    FAILED_TO_PARSE: "FailedToParse",
    TYPE_MISMATCH: "TypeMismatch",
    ILLEGAL_OPERATION: "IllegalOperation",
    NAMESPACE_NOT_FOUND: "NamespaceNotFound",
    INDEX_NOT_FOUND: "IndexNotFound",
    CURSOR_NOT_FOUND: "CursorNotFound",
    NAMESPACE_EXISTS: "NamespaceExists",
    COMMAND_NOT_FOUND: "CommandNotFound",
    IMMUTABLE_FIELD: "ImmutableField",
    INVALID_OPTIONS: "InvalidOptions",
    INVALID_NAMESPACE: "InvalidNamespace",
    INDEX_OPTIONS_CONFLICT: "IndexOptionsConflict",
    INDEX_KEY_SPECS_CONFLICT: "IndexKeySpecsConflict",
    NOT_IMPLEMENTED: "NotImplemented",
    INTERNAL_ERROR: "InternalError",
    DUPLICATE_KEY: "DuplicateKey",
}


class MongoError(Exception):
    """A failure reported to the client as `{ok: 0, code, codeName, errmsg}` or a write error."""

    def __init__(self, code: int, errmsg: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg
        self.details: dict[str, Any] = dict(details or {})

    def as_reply(self) -> dict[str, Any]:
        return {
            "ok": 0.0,
            "errmsg": self.errmsg,
            "code": self.code,
            "codeName": CODE_NAMES.get(self.code, "UnknownError"),
            **self.details,
        }

    def as_write_error(self, index: int) -> dict[str, Any]:
        return {"index": index, "code": self.code, "errmsg": self.errmsg, **self.details}


def duplicate_key_error(
    namespace: str, index_name: str, key_pattern: Mapping[str, Any], key_value: Mapping[str, Any]
) -> MongoError:
    """Build the error real MongoDB reports, so pymongo raises DuplicateKeyError with it."""
    rendered = ", ".join(f"{field}: {render_value(value)}" for field, value in key_value.items())
    return MongoError(
        DUPLICATE_KEY,
        f"E11000 duplicate key error collection: {namespace} index: {index_name} "
        f"dup key: {{ {rendered} }}",
        {"keyPattern": dict(key_pattern), "keyValue": dict(key_value)},
    )


def render_value(value: Any) -> str:
    """Render a value the way mongod prints it in error messages (relaxed shell syntax)."""
    for value_type, render in _RENDERERS:
        if isinstance(value, value_type):
            return render(value)
    return repr(value)


def _render_datetime(value: datetime.datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    return f"new Date({int(aware.timestamp() * 1000)})"


def _render_document(value: Mapping[str, Any]) -> str:
    inner = ", ".join(f"{key}: {render_value(item)}" for key, item in value.items())
    return f"{{ {inner} }}" if inner else "{}"


def _render_array(value: list[Any]) -> str:
    return "[ " + ", ".join(render_value(item) for item in value) + " ]"


# Order matters: bool before int (bool is an int subclass).
_RENDERERS: tuple[tuple[Any, Callable[[Any], str]], ...] = (
    (type(None), lambda _: "null"),
    (bool, lambda value: "true" if value else "false"),
    (str, json.dumps),
    (int | float, repr),
    (ObjectId, lambda value: f"ObjectId('{value}')"),
    (datetime.datetime, _render_datetime),
    (Mapping, _render_document),
    (list, _render_array),
)
