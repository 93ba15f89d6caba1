"""What every pass job needs from its process: the database, the tenants, the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from config.settings import Settings
from shared.tenants import PassType, Tenant, TenantRegistry


class UnknownPassType(Exception):
    pass


@dataclass(frozen=True)
class JobContext:
    db: Database[Any]
    tenants: TenantRegistry
    settings: Settings

    def pass_type(self, tenant_id: str, pass_type_id: str) -> tuple[Tenant, PassType]:
        tenant = self.tenants.get(tenant_id)
        pass_type = tenant.pass_types.get(pass_type_id) if tenant else None
        if tenant is None or pass_type is None:
            raise UnknownPassType(f"pass type '{pass_type_id}' of tenant '{tenant_id}' is gone")
        return tenant, pass_type
