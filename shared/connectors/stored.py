"""Connectors defined through the API, without a restart: the TenantRegistry overlay that adds
a tenant's stored definitions (shared/repositories/connectors.py) to those of its files.

Looking a tenant up costs one indexed MongoDB read of its definitions: in the API at most once
per ACTIVE_TTL_S per tenant and process (so `POST /connect/...` finds a connector a second or
so after its PUT), in a worker once per job (ttl 0: an event emitted after the PUT reaches
the connector's `[outbound]` endpoint). A definition is parsed by the files' loader once per
process and version. A file's connector wins over a stored one of the same name (the API
refuses to create one; a file added later takes over at the next restart).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from shared.connectors.config import Connector, ConnectorConfigError, parse_connector
from shared.repositories import connectors as repo
from shared.tenancy.tenants import Tenant, TenantOverlay

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

# How stale an API process's idea of the stored connectors may be after a PUT or DELETE.
ACTIVE_TTL_S = 1.0


def where(tenant_id: str, name: str) -> PurePosixPath:
    """How errors name a stored definition (files are named by their path)."""
    return PurePosixPath(f"api/{tenant_id}/connectors/{name}.toml")


class StoredConnectors:
    """The TenantRegistry overlay: a tenant with its API-defined connectors and their
    `[outbound]` endpoints among its webhooks."""

    def __init__(
        self,
        database: Callable[[], Database[Any]],
        *,
        ttl_s: float = ACTIVE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stamps: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        # (tenant, name, version) -> its connector, or None when it no longer loads here.
        self._parsed: dict[tuple[str, str, int], Connector | None] = {}
        self._tenants: dict[str, tuple[tuple[tuple[str, int], ...], Tenant, Tenant]] = {}

    def __call__(self, tenant: Tenant) -> Tenant:
        documents = self._documents(tenant.id)
        if not documents:
            return tenant
        key = tuple((str(d["name"]), int(d["version"])) for d in documents)
        with self._lock:
            cached = self._tenants.get(tenant.id)
        if cached is not None and cached[0] == key and cached[1] is tenant:
            return cached[2]
        resolved = self._with(tenant, documents)
        with self._lock:
            self._tenants[tenant.id] = (key, tenant, resolved)
        return resolved

    def forget(self, tenant_id: str) -> None:
        """Read the tenant's definitions again on next use (this process changed them)."""
        with self._lock:
            self._stamps.pop(tenant_id, None)

    def _documents(self, tenant_id: str) -> list[dict[str, Any]]:
        now = self._clock()
        with self._lock:
            cached = self._stamps.get(tenant_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        documents = repo.of_tenant(self._database(), tenant_id)
        with self._lock:
            self._stamps[tenant_id] = (now, documents)
        return documents

    def _with(self, tenant: Tenant, documents: list[dict[str, Any]]) -> Tenant:
        names = {c.name for c in tenant.connectors}
        endpoint_ids = {e.id for e in tenant.webhooks}
        added: list[Connector] = []
        for document in documents:
            connector = self._parse(tenant.id, document)
            if connector is None or connector.name in names:
                continue
            outbound = connector.outbound
            if outbound is not None and outbound.id in endpoint_ids:
                log.error("stored connector %s/%s: endpoint id taken", tenant.id, connector.name)
                continue
            added.append(connector)
            if outbound is not None:
                endpoint_ids.add(outbound.id)
        outbounds = tuple(c.outbound for c in added if c.outbound is not None)
        return dataclasses.replace(
            tenant,
            connectors=tenant.connectors + tuple(added),
            webhooks=tenant.webhooks + outbounds,
        )

    def _parse(self, tenant_id: str, document: dict[str, Any]) -> Connector | None:
        key = (tenant_id, str(document["name"]), int(document["version"]))
        with self._lock:
            if key in self._parsed:
                return self._parsed[key]
        try:
            connector: Connector | None = parse_connector(
                key[1], str(document["toml"]), where(tenant_id, key[1])
            )
        except ConnectorConfigError as exc:
            # Valid when stored; e.g. an environment variable its URL reads is unset here.
            log.error("stored connector no longer loads: %s", exc)
            connector = None
        with self._lock:
            self._parsed = {k: v for k, v in self._parsed.items() if k[:2] != key[:2]}
            self._parsed[key] = connector
        return connector


def chain(*overlays: TenantOverlay) -> TenantOverlay:
    """Overlays applied in order (stored pass type versions, then stored connectors)."""

    def apply(tenant: Tenant) -> Tenant:
        for overlay in overlays:
            tenant = overlay(tenant)
        return tenant

    return apply
