"""What views need from the process, stored on the app by the factory (typed accessors)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app

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
    value: TenantRegistry = current_app.extensions["passwire.tenants"]
    return value


def jobs() -> JobQueue:
    value: JobQueue = current_app.extensions["passwire.jobs"]
    return value
