"""What views need from the process, stored on the app by the factory (typed accessors)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, g

from config.settings import Settings
from shared.infra.db import get_database
from shared.jobs import JobQueue
from shared.tenancy.tenants import TenantRegistry

if TYPE_CHECKING:
    from pymongo.database import Database


def settings() -> Settings:
    value: Settings = current_app.extensions["passwire.settings"]
    return value


def database() -> Database[Any]:
    return get_database(settings())


def tenants() -> TenantRegistry:
    """The tenants as this request sees them: active pass type versions resolved once."""
    pinned: TenantRegistry | None = g.get("passwire_tenants")
    if pinned is None:
        registry: TenantRegistry = current_app.extensions["passwire.tenants"]
        pinned = g.passwire_tenants = registry.pinned()
    return pinned


def jobs() -> JobQueue:
    value: JobQueue = current_app.extensions["passwire.jobs"]
    return value
