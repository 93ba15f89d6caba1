"""Per-process state of a worker: settings and tenants read once, this process's database."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from config.settings import load_settings
from shared.infra.db import get_database
from shared.tenancy.tenants import TenantRegistry, load_registry

if TYPE_CHECKING:
    from pymongo.database import Database

settings = load_settings()


def database() -> Database[Any]:
    return get_database(settings)


@cache
def tenants() -> TenantRegistry:
    # Loaded on first use, not at import: `celery inspect` and Flower import this module too.
    return load_registry(settings.tenants_dir, include_local_only=settings.is_local)
