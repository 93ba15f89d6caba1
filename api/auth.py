"""Tenant resolution and API-key authentication for `/api/<tenantId>/...` routes.

Keys are bound to one tenant and stored hashed (SHA-256) in its configuration; the presented
key's hash is compared in constant time. Scoped keys and JWTs build on this (see the issues).
The key is checked before the tenant is looked up, so callers without a valid key cannot
probe which tenants exist.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, current_app, g, request

from api.errors import ApiError
from shared.tenants import Tenant, TenantRegistry

API_KEY_HEADER = "X-API-Key"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _registry() -> TenantRegistry:
    registry: TenantRegistry = current_app.extensions["passwire.tenants"]
    return registry


def _matches(tenant: Tenant, key_hash: str) -> bool:
    # Check every key without stopping early, so timing does not tell which one matched.
    matched = False
    for api_key in tenant.api_keys:
        matched |= hmac.compare_digest(api_key.sha256, key_hash)
    return matched


def _refuse(status: int, message: str, field: str, reason: str) -> ApiError:
    return ApiError(status, message, errors=[{"field": field, "reason": reason}])


def authenticate_tenant() -> None:
    """`before_request` hook: sets g.tenant, or refuses with 401 / 404 / 403."""
    tenant_id = (request.view_args or {}).get("tenantId")
    if tenant_id is None:
        return
    presented = request.headers.get(API_KEY_HEADER, "")
    if not presented:
        raise _refuse(401, f"Missing {API_KEY_HEADER} header.", API_KEY_HEADER, "missing")
    key_hash = hashlib.sha256(presented.encode("utf-8")).hexdigest()
    registry = _registry()
    owners = [tenant for tenant in registry.tenants.values() if _matches(tenant, key_hash)]
    if not owners:
        raise _refuse(401, "Invalid API key.", API_KEY_HEADER, "invalid")
    tenant = registry.get(tenant_id)
    if tenant is None:
        raise _refuse(404, f"Unknown tenant '{tenant_id}'.", "tenantId", "unknown tenant")
    if tenant not in owners:
        raise _refuse(
            403,
            "This API key is not valid for this tenant.",
            API_KEY_HEADER,
            "key belongs to another tenant",
        )
    g.tenant = tenant


def require_json_body() -> None:
    """`before_request` hook (after authentication): refuse bodies that are not JSON instead
    of silently ignoring them. Chunked bodies have no Content-Length, hence the second test."""
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if request.method in _BODY_METHODS and has_body and not request.is_json:
        raise _refuse(
            415, "Send the body as application/json.", "Content-Type", "must be application/json"
        )


def protect(blueprint: Blueprint) -> None:
    """Tenant API hooks, in order: authenticate, then check the body's media type."""
    blueprint.before_request(authenticate_tenant)
    blueprint.before_request(require_json_body)


def current_tenant() -> Tenant:
    tenant: Tenant = g.tenant
    return tenant
