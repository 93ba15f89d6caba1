"""Per-process state of a worker: settings read once, the MongoDB database of this process."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from config.settings import load_settings
from shared.db import get_database

settings = load_settings()


def database() -> Database[Any]:
    return get_database(settings)
