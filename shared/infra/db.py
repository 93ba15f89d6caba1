"""The MongoDB connection of this process (one client per URI, from the process registry:
pymongo clients must not cross a fork, so a forked child makes its own)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConnectionFailure

from config.settings import Settings
from shared.infra import process_clients

# What callers outside the database layer catch when MongoDB cannot be reached (server
# selection timeouts and dropped connections, AutoReconnect included, are ConnectionFailure).
DatabaseUnavailable = ConnectionFailure


def _new_client(uri: str) -> MongoClient[dict[str, object]]:
    return MongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        # No call may hang a request or a worker slot forever.
        socketTimeoutMS=30000,
        appname="passwire",
    )


def get_database(settings: Settings) -> Database[dict[str, object]]:
    uri = settings.mongodb_uri
    client = process_clients.get(("mongodb", uri), lambda: _new_client(uri))
    return client[settings.mongodb_database]


def ping(uri: str, timeout_s: float) -> None:
    """Ask the server at `uri` to answer a ping, with a client of its own and short timeouts
    (the process's client waits longer for a server). Raises the driver's error when it
    does not answer."""
    timeout_ms = int(timeout_s * 1000)
    client: MongoClient[dict[str, object]] = MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def uri_with_database(uri: str, name: str) -> str:
    """`uri` naming database `name` instead; credentials keep authenticating where they did
    (the old path, or admin, becomes `authSource`). For tests and benchmarks that each use a
    database of their own on one server."""
    parts = urlsplit(uri)
    query = parts.query
    if "@" in parts.netloc and "authsource=" not in query.lower():
        source = f"authSource={parts.path.lstrip('/') or 'admin'}"
        query = f"{query}&{source}" if query else source
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", query, parts.fragment))
