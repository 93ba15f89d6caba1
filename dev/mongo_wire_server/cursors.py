"""Server-side cursors: results are materialised once and handed out in batches by getMore.

The stored documents a cursor refers to are immutable, so a cursor is a consistent snapshot.
Batches are encoded to raw BSON here so their byte size can be capped like mongod does.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import bson
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument

from .errors import CURSOR_NOT_FOUND, MongoError

DEFAULT_FIRST_BATCH: Final = 101
MAX_BATCH_BYTES: Final = 16 * 1024 * 1024
IDLE_TIMEOUT_SECONDS: Final = 600.0


@dataclass
class _Cursor:
    namespace: str
    documents: Sequence[Mapping[str, Any]]
    transform: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    position: int = 0
    immortal: bool = False
    last_used: float = field(default_factory=time.monotonic)


class CursorRegistry:
    def __init__(self) -> None:
        self._cursors: dict[int, _Cursor] = {}
        self._ids = itertools.count(1)

    def open(
        self,
        namespace: str,
        documents: Sequence[Mapping[str, Any]],
        *,
        batch_size: int | None,
        single_batch: bool = False,
        immortal: bool = False,
        transform: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The `cursor` field of a find/aggregate/list* reply, registering what is left over.

        `transform` (a projection) is applied lazily, only to documents actually sent.
        """
        self._expire_idle()
        cursor = _Cursor(namespace, documents, transform, immortal=immortal)
        batch = self._take(cursor, DEFAULT_FIRST_BATCH if batch_size is None else batch_size)
        cursor_id = 0
        if cursor.position < len(documents) and not single_batch:
            cursor_id = next(self._ids)
            self._cursors[cursor_id] = cursor
        return {"firstBatch": batch, "id": Int64(cursor_id), "ns": namespace}

    def get_more(self, cursor_id: int, batch_size: int | None) -> dict[str, Any]:
        cursor = self._cursors.get(cursor_id)
        if cursor is None:
            raise MongoError(CURSOR_NOT_FOUND, f"cursor id {cursor_id} not found")
        cursor.last_used = time.monotonic()
        batch = self._take(cursor, batch_size or 0)
        if cursor.position >= len(cursor.documents):
            del self._cursors[cursor_id]
            cursor_id = 0
        return {"nextBatch": batch, "id": Int64(cursor_id), "ns": cursor.namespace}

    def kill(self, cursor_ids: Iterable[int]) -> tuple[list[int], list[int]]:
        killed: list[int] = []
        not_found: list[int] = []
        for cursor_id in cursor_ids:
            if self._cursors.pop(cursor_id, None) is None:
                not_found.append(cursor_id)
            else:
                killed.append(cursor_id)
        return killed, not_found

    @staticmethod
    def _take(cursor: _Cursor, batch_size: int) -> list[RawBSONDocument]:
        """Up to `batch_size` documents (0 = no count limit) within the reply size limit."""
        batch: list[RawBSONDocument] = []
        total = 0
        while cursor.position < len(cursor.documents):
            if batch_size and len(batch) >= batch_size:
                break
            document = cursor.documents[cursor.position]
            if cursor.transform is not None:
                document = cursor.transform(document)
            encoded = bson.encode(document)
            if batch and total + len(encoded) > MAX_BATCH_BYTES:
                break
            batch.append(RawBSONDocument(encoded))
            total += len(encoded)
            cursor.position += 1
        return batch

    def _expire_idle(self) -> None:
        deadline = time.monotonic() - IDLE_TIMEOUT_SECONDS
        for cursor_id, cursor in list(self._cursors.items()):
            if not cursor.immortal and cursor.last_used < deadline:
                del self._cursors[cursor_id]
