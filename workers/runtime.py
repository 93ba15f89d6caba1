"""Per-process state of a worker: settings and tenants read once, this process's database."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from config.settings import load_settings
from shared.connectors.stored import StoredConnectors, chain
from shared.infra.db import get_database
from shared.passtypes.active import StoredVersions
from shared.tenancy.tenants import TenantRegistry, load_registry

if TYPE_CHECKING:
    from pymongo.database import Database

settings = load_settings()


def database() -> Database[Any]:
    return get_database(settings)


@cache
def tenants() -> TenantRegistry:
    # Loaded on first use, not at import: `celery inspect` and Flower import this module too.
    # Active stored pass type versions apply to every job (shared/passtypes/active.py): read
    # afresh when a job first looks its tenant up (no staleness: a re-render campaign queued
    # right after an activation renders with the new version), then kept to the job's end.
    registry = load_registry(settings.tenants_dir, include_local_only=settings.is_local)
    # So do connectors defined through the API (shared/connectors/stored.py).
    return registry.with_overlay(
        chain(StoredVersions(database, ttl_s=0), StoredConnectors(database, ttl_s=0))
    )
