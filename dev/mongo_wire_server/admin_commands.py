"""Handshake and server-level commands: hello/isMaster, ping, buildInfo, serverStatus, sessions."""

from __future__ import annotations

import datetime
import os
import socket
import time
from typing import Final

from .context import Call, Handler, Reply

SERVER_VERSION: Final = "7.0.0"
MAX_WIRE_VERSION: Final = 21  # MongoDB 7.0
MAX_BSON_OBJECT_SIZE: Final = 16 * 1024 * 1024
MAX_MESSAGE_SIZE_BYTES: Final = 48_000_000
MAX_WRITE_BATCH_SIZE: Final = 100_000


def hello(call: Call) -> Reply:
    """A standalone, writable server. No `topologyVersion`: drivers then poll instead of
    streaming (awaitable hello), which keeps connections simple request/response."""
    reply: Reply = {
        "isWritablePrimary": True,
        "ismaster": True,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE_BYTES,
        "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
        "localTime": datetime.datetime.now(datetime.UTC),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": call.connection_id,
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": False,
    }
    if call.body.get("helloOk"):
        reply["helloOk"] = True
    return reply


def ping(call: Call) -> Reply:
    return {}


def build_info(call: Call) -> Reply:
    return {
        "version": SERVER_VERSION,
        "gitVersion": "passwire-dev-wire-server",
        "versionArray": [7, 0, 0, 0],
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["memory"],
        "modules": [],
    }


def server_status(call: Call) -> Reply:
    state = call.state
    uptime = time.monotonic() - state.started_at
    return {
        "host": socket.gethostname(),
        "version": SERVER_VERSION,
        "process": "mongod",
        "pid": os.getpid(),
        "uptime": int(uptime),
        "uptimeMillis": int(uptime * 1000),
        "localTime": datetime.datetime.now(datetime.UTC),
        "connections": {
            "current": state.connections_current,
            "totalCreated": state.connections_total,
        },
        # How many documents queries tested: lets tests prove lookups go through the indexes.
        "metrics": {"queryExecutor": {"scannedObjects": state.engine.documents_examined}},
    }


def end_sessions(call: Call) -> Reply:
    return {}


def connection_status(call: Call) -> Reply:
    return {"authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}}


# Answered without the storage lock, so handshakes and monitoring never wait on a slow query.
LOCK_FREE_HANDLERS: dict[str, Handler] = {
    "hello": hello,
    "isMaster": hello,
    "ismaster": hello,
    "ping": ping,
    "buildInfo": build_info,
    "buildinfo": build_info,
    "endSessions": end_sessions,
    "connectionStatus": connection_status,
}

HANDLERS: dict[str, Handler] = {"serverStatus": server_status}
