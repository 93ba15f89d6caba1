"""The MongoDB connection of this process.

pymongo clients must not cross a fork (Celery prefork, gunicorn workers): the client is
created lazily and rebuilt when the process id changes.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit, urlunsplit

from pymongo import MongoClient
from pymongo.database import Database

from config.settings import Settings

_lock = threading.Lock()
_client: MongoClient[dict[str, object]] | None = None
_client_key: tuple[int, str] | None = None


def get_database(settings: Settings) -> Database[dict[str, object]]:
    global _client, _client_key  # noqa: PLW0603 - one client per process is the point
    key = (os.getpid(), settings.mongodb_uri)
    with _lock:
        if _client is None or _client_key != key:
            _client = MongoClient(
                settings.mongodb_uri,
                tz_aware=True,
                serverSelectionTimeoutMS=5000,
                connectTimeoutMS=5000,
                # No call may hang a request or a worker slot forever.
                socketTimeoutMS=30000,
                appname="passwire",
            )
            _client_key = key
        return _client[settings.mongodb_database]


def close_client() -> None:
    global _client, _client_key  # noqa: PLW0603
    with _lock:
        if _client is not None and _client_key is not None and _client_key[0] == os.getpid():
            _client.close()
        _client = None
        _client_key = None


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
