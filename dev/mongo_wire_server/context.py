"""What a command handler receives: the parsed command, typed argument accessors, server state."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .cursors import CursorRegistry
from .engine import QueryEngine
from .errors import INVALID_NAMESPACE, TYPE_MISMATCH, MongoError
from .storage import Storage

Reply = dict[str, Any]


@dataclass
class ServerState:
    storage: Storage
    engine: QueryEngine
    cursors: CursorRegistry = field(default_factory=CursorRegistry)
    started_at: float = field(default_factory=time.monotonic)
    connections_current: int = 0
    connections_total: int = 0


@dataclass(frozen=True)
class Call:
    database: str
    body: dict[str, Any]
    connection_id: int
    state: ServerState

    @property
    def name(self) -> str:
        return next(iter(self.body))

    def collection(self) -> str:
        """The collection a collection-level command targets (the command's own value)."""
        value = self.body[self.name]
        if not isinstance(value, str) or not value or "$" in value or "\x00" in value:
            raise MongoError(INVALID_NAMESPACE, f"Invalid namespace specified '{value!r}'")
        return value

    def namespace(self, collection: str) -> str:
        return f"{self.database}.{collection}"

    def document(self, key: str) -> dict[str, Any]:
        """An optional sub-document argument; absent or null means empty."""
        return dict(self._typed(key, Mapping, "object") or {})

    def array(self, key: str) -> list[Any]:
        return list(self._typed(key, list, "array") or [])

    def integer(self, key: str, default: int = 0) -> int:
        value = self._typed(key, int | float, "int")
        if value is None or isinstance(value, bool):
            return default
        return int(value)

    def optional_integer(self, key: str) -> int | None:
        return self.integer(key) if self.body.get(key) is not None else None

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.body.get(key)
        return default if value is None else bool(value)

    def _typed(self, key: str, expected: Any, type_name: str) -> Any:
        value = self.body.get(key)
        if value is not None and not isinstance(value, expected):
            raise MongoError(
                TYPE_MISMATCH,
                f"BSON field '{self.name}.{key}' is the wrong type "
                f"'{type(value).__name__}', expected type '{type_name}'",
            )
        return value


Handler = Callable[[Call], Reply]
