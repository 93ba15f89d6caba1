"""Which version of each pass type a process renders with, without a restart.

Every API and worker process holds one `StoredVersions`, the overlay of its TenantRegistry
(shared/tenancy/tenants.py). Looking a tenant up costs one indexed MongoDB read of its active
version ids (`passtype_active`): in a worker once per job (ttl 0), in the API at most once per
ACTIVE_TTL_S per tenant and process. A version is loaded (written out and checked by the
start-up loader) once per process and kept by its version id, which never changes meaning:
versions are immutable.

A job takes a *pinned* view of the registry (TenantRegistry.pinned): it resolves the active
versions once, when it first looks its tenant up, and keeps them to its end. A campaign batch
started before an activation finishes on the version it started with; the next batch, a new
job, reads the new one. No pass is rendered from a mix of both.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.passtypes.loading import VersionInvalid, build_pass_type
from shared.repositories import passtypes as repo
from shared.tenancy.tenants import PassType, Tenant

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

# How stale a process's idea of the active versions may be after an activation.
ACTIVE_TTL_S = 1.0
# Loaded versions kept per process (each holds its templates and zipped images).
MAX_LOADED = 64


class StoredVersions:
    """The TenantRegistry overlay: a tenant with its active stored pass type versions."""

    def __init__(
        self,
        database: Callable[[], Database[Any]],
        *,
        ttl_s: float = ACTIVE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        cache_dir: Path | None = None,
    ) -> None:
        self._database = database
        self._ttl_s = ttl_s
        self._clock = clock
        self._dir = cache_dir or Path(tempfile.mkdtemp(prefix="passwire-passtypes-"))
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._active: dict[str, tuple[float, dict[str, str]]] = {}
        self._loaded: OrderedDict[str, PassType] = OrderedDict()
        self._tenants: dict[str, tuple[tuple[tuple[str, str], ...], Tenant, Tenant]] = {}

    def __call__(self, tenant: Tenant) -> Tenant:
        active = self.active_ids(tenant.id)
        key = tuple(sorted(active.items()))
        with self._lock:
            cached = self._tenants.get(tenant.id)
        if cached is not None and cached[0] == key and cached[1] is tenant:
            return cached[2]
        pass_types = dict(tenant.pass_types)
        for name, version_id in active.items():
            loaded = self.load(tenant, version_id)
            if loaded is not None:
                pass_types[name] = loaded
        resolved = dataclasses.replace(
            tenant, pass_types=pass_types, version_lookup=functools.partial(self._lookup, tenant)
        )
        with self._lock:
            self._tenants[tenant.id] = (key, tenant, resolved)
        return resolved

    def active_ids(self, tenant_id: str) -> dict[str, str]:
        """name -> active version id; read from MongoDB at most once per ttl."""
        now = self._clock()
        with self._lock:
            cached = self._active.get(tenant_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        active = repo.active_versions(self._database(), tenant_id)
        with self._lock:
            self._active[tenant_id] = (now, active)
        return active

    def forget(self, tenant_id: str) -> None:
        """Read the tenant's active versions again on next use (this process changed them)."""
        with self._lock:
            self._active.pop(tenant_id, None)

    def load(self, tenant: Tenant, version_id: str) -> PassType | None:
        """A stored version of one of `tenant`'s pass types, loaded once per process; None
        when unknown or no longer valid for the tenant (e.g. its certificate was removed)."""
        with self._lock:
            if version_id in self._loaded:
                self._loaded.move_to_end(version_id)
                return self._loaded[version_id]
        with self._loading:  # one load at a time: two threads never write one folder
            with self._lock:
                if version_id in self._loaded:
                    return self._loaded[version_id]
            return self._load(tenant, version_id)

    def _load(self, tenant: Tenant, version_id: str) -> PassType | None:
        db = self._database()
        version = repo.find_version_by_id(db, tenant.id, version_id)
        if version is None:
            return None
        into = self._dir / tenant.id / str(version["number"])
        try:
            pass_type = build_pass_type(
                tenant,
                version["name"],
                repo.files_of(db, version),
                version_id=version_id,
                into=into,
            )
        except VersionInvalid as exc:
            log.error("pass type version %s no longer loads: %s", version_id, exc)
            return None
        with self._lock:
            self._loaded[version_id] = pass_type
            while len(self._loaded) > MAX_LOADED:
                self._loaded.popitem(last=False)
        return pass_type

    def _lookup(self, base: Tenant, name: str, version_id: str | None) -> PassType | None:
        if version_id is None:
            return base.pass_types.get(name)  # rendered from the folder on disk
        loaded = self.load(base, version_id)
        return loaded if loaded is not None and loaded.id == name else None
