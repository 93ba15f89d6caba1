"""Route a decoded command to its handler and turn failures into `{ok: 0}` replies.

One lock serialises every command that touches storage or cursors: connections each have a
thread, and the engine is simple single-threaded Python underneath. Session, cluster-time,
read/write-concern and API-version arguments are accepted and ignored.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from . import admin_commands, catalog_commands, crud_commands
from .context import Call, Handler, Reply, ServerState
from .errors import (
    COMMAND_NOT_FOUND,
    FAILED_TO_PARSE,
    ILLEGAL_OPERATION,
    INTERNAL_ERROR,
    MongoError,
)

logger = logging.getLogger(__name__.rpartition(".")[0])


class CommandDispatcher:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._lock_free: dict[str, Handler] = dict(admin_commands.LOCK_FREE_HANDLERS)
        self._locked: dict[str, Handler] = {
            **admin_commands.HANDLERS,
            **catalog_commands.HANDLERS,
            **crud_commands.HANDLERS,
        }

    def execute(self, database: str, body: dict[str, Any], connection_id: int) -> Reply:
        name = next(iter(body), "")
        try:
            reply = self._run(Call(database, body, connection_id, self.state))
        except MongoError as error:
            logger.debug("command %s failed: %s", name, error.errmsg)
            return error.as_reply()
        except Exception as error:
            logger.exception("command %s crashed", name)
            return MongoError(INTERNAL_ERROR, f"dev server error in {name}: {error!r}").as_reply()
        reply.setdefault("ok", 1.0)
        return reply

    def _run(self, call: Call) -> Reply:
        if not call.body:
            raise MongoError(FAILED_TO_PARSE, "empty command")
        name = call.name
        if "startTransaction" in call.body or "autocommit" in call.body:
            raise MongoError(
                ILLEGAL_OPERATION,
                "Transaction numbers are only allowed on a replica set member or mongos",
            )
        handler = self._lock_free.get(name)
        if handler is not None:
            return handler(call)
        handler = self._locked.get(name)
        if handler is None:
            raise MongoError(COMMAND_NOT_FOUND, f"no such command: '{name}'")
        with self._lock:
            return handler(call)
