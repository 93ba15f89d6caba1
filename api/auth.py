"""Tenant resolution and API-key authentication for `/api/<tenantId>/...` routes.

Keys are bound to one tenant and stored hashed (SHA-256) in its configuration; the presented
key's hash is compared in constant time. Scoped keys and JWTs build on this (see the issues).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, g, request

from api.errors import ApiError
from shared.tenants import Tenant, TenantRegistry

API_KEY_HEADER = "X-API-Key"


def _registry() -> TenantRegistry:
    registry: TenantRegistry = current_app.extensions["passwire.tenants"]
    return registry


def _matches(tenant: Tenant, key_hash: str) -> bool:
    # Check every key without stopping early, so timing does not tell which one matched.
    matched = False
    for api_key in tenant.api_keys:
        matched |= hmac.compare_digest(api_key.sha256, key_hash)
    return matched


def authenticate_tenant() -> None:
    """`before_request` hook: sets g.tenant, or refuses with 404 / 401 / 403."""
    tenant_id = (request.view_args or {}).get("tenantId")
    if tenant_id is None:
        return
    registry = _registry()
    tenant = registry.get(tenant_id)
    if tenant is None:
        raise ApiError(
            404,
            f"Unknown tenant '{tenant_id}'.",
            errors=[{"field": "tenantId", "reason": "unknown tenant"}],
        )
    presented = request.headers.get(API_KEY_HEADER, "")
    if not presented:
        raise ApiError(
            401,
            f"Missing {API_KEY_HEADER} header.",
            errors=[{"field": API_KEY_HEADER, "reason": "missing"}],
        )
    key_hash = hashlib.sha256(presented.encode("utf-8")).hexdigest()
    if not _matches(tenant, key_hash):
        belongs_elsewhere = any(_matches(other, key_hash) for other in registry.tenants.values())
        if belongs_elsewhere:
            raise ApiError(
                403,
                "This API key is not valid for this tenant.",
                errors=[{"field": API_KEY_HEADER, "reason": "key belongs to another tenant"}],
            )
        raise ApiError(
            401, "Invalid API key.", errors=[{"field": API_KEY_HEADER, "reason": "invalid"}]
        )
    g.tenant = tenant


def current_tenant() -> Tenant:
    tenant: Tenant = g.tenant
    return tenant
