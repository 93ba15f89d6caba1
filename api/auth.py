"""Authentication and scopes for the tenant API (`/api/<tenantId>/...`).

A caller presents either an API key (`X-API-Key`: a `pw_…` key issued with `passwire keys`,
or a bootstrap key from tenant.toml) or a JWT (`Authorization: Bearer …`) signed with its
tenant's secret or key. Keys are stored hashed and compared in constant time. The credential
is checked before the tenant is looked up, so callers without one cannot probe which tenants
exist; a credential of another tenant gets 403. Every view declares the one scope it needs.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, g, request

from api import idempotency, services
from api.errors import ApiError
from shared.credentials.api_keys import Principal, looks_like_stored_key, verify_stored_key
from shared.credentials.jwt_tokens import InvalidToken, verify_bearer
from shared.credentials.scopes import ALL_SCOPES, grants
from shared.tenancy.tenants import Tenant, TenantRegistry

API_KEY_HEADER = "X-API-Key"
# A Principal set by an in-process call (api/connectors/dispatch.py). A WSGI environ key
# without the HTTP_ prefix: no client header can set it.
INTERNAL_PRINCIPAL = "passwire.internal_principal"
ANONYMOUS = "anonymous"
_BODY_METHODS = {"POST", "PUT", "PATCH"}

F = TypeVar("F", bound=Callable[..., Any])


def _registry() -> TenantRegistry:
    return services.tenants()


def _refuse(status: int, message: str, field: str, reason: str) -> ApiError:
    return ApiError(status, message, errors=[{"field": field, "reason": reason}])


def _config_key_principal(registry: TenantRegistry, presented: str) -> Principal | None:
    key_hash = hashlib.sha256(presented.encode("utf-8")).hexdigest()
    found: Principal | None = None
    # Compare with every key without stopping early: timing must not tell which matched.
    for tenant in registry.tenants.values():
        for api_key in tenant.api_keys:
            if hmac.compare_digest(api_key.sha256, key_hash):
                found = Principal(tenant.id, api_key.scopes, f"config-key:{api_key.name}")
    return found


def _key_principal(presented: str) -> Principal:
    if looks_like_stored_key(presented):
        principal = verify_stored_key(services.database(), presented)
    else:
        principal = _config_key_principal(_registry(), presented)
    if principal is None:
        raise _refuse(401, "Invalid API key.", API_KEY_HEADER, "invalid or revoked")
    return principal


def principal_of_key(presented: str) -> Principal:
    """Who an API key is (the operator dashboard's login takes one); raises the 401."""
    return _key_principal(presented)


def _bearer_principal(tenant_id: str, token: str) -> Principal:
    tenant = _registry().get(tenant_id)
    if tenant is None or tenant.jwt is None:
        # Same answer as a bad signature: an unknown tenant must not be told apart.
        raise _refuse(401, "Invalid bearer token.", "Authorization", "signature does not verify")
    try:
        return verify_bearer(tenant.jwt, tenant_id, token)
    except InvalidToken as exc:
        raise _refuse(401, "Invalid bearer token.", "Authorization", str(exc)) from None


def _missing_credential() -> ApiError:
    return _refuse(
        401,
        f"Send an {API_KEY_HEADER} header or an Authorization: Bearer token.",
        API_KEY_HEADER,
        "missing",
    )


def _anonymous_principal(tenant_id: str) -> Principal:
    """No credential: only a tenant offering self-service issuing lets the request reach a
    view, and only a view marked for self-service accepts it (with vouched identifiers)."""
    tenant = _registry().get(tenant_id)
    if tenant is None or tenant.self_service is None:
        raise _missing_credential()
    return Principal(tenant_id=tenant.id, scopes=frozenset(), credential=ANONYMOUS)


def authenticate_tenant() -> None:
    """`before_request` hook: sets g.tenant and g.scopes, or refuses with 401/404/403."""
    tenant_id = (request.view_args or {}).get("tenantId")
    if tenant_id is None:
        return
    presented_key = request.headers.get(API_KEY_HEADER, "")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    internal: Principal | None = request.environ.get(INTERNAL_PRINCIPAL)
    if internal is not None:
        principal = internal
    elif presented_key:
        principal = _key_principal(presented_key)
    elif scheme.lower() == "bearer" and token.strip():
        principal = _bearer_principal(tenant_id, token.strip())
    else:
        principal = _anonymous_principal(tenant_id)
    tenant = _registry().get(tenant_id)
    if tenant is None:
        raise _refuse(404, f"Unknown tenant '{tenant_id}'.", "tenantId", "unknown tenant")
    if principal.tenant_id != tenant.id:
        raise _refuse(
            403,
            "This credential is not valid for this tenant.",
            API_KEY_HEADER,
            "credential belongs to another tenant",
        )
    g.tenant = tenant
    g.principal = principal


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
    """Tenant API hooks, in order: authenticate, check the body's media type, then honour an
    Idempotency-Key (claimed by requires_scope once the caller may do the request)."""
    blueprint.before_request(authenticate_tenant)
    blueprint.before_request(require_json_body)
    blueprint.after_request(idempotency.after_request)


def requires_scope(scope: str, *, self_service: bool = False) -> Callable[[F], F]:
    """Declare the one scope a view needs; the caller's credential must grant it. With
    `self_service`, a caller without a credential gets in too, flagged `g.self_service`, and
    the view must vouch for what it sends."""
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown scope {scope}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            principal: Principal = g.principal
            g.self_service = False
            if principal.credential == ANONYMOUS:
                if not self_service:
                    raise _missing_credential()
                g.self_service = True
            elif not grants(principal.scopes, scope):
                raise _refuse(403, f"This credential lacks the {scope} scope.", "scope", scope)
            replay = idempotency.claim_or_replay()
            if replay is not None:
                return replay
            return view(*args, **kwargs)

        checked.required_scope = scope  # type: ignore[attr-defined]
        _document_scope(checked, scope, self_service=self_service)
        return checked  # type: ignore[return-value]

    return decorate


_CREDENTIALS: list[dict[str, list[str]]] = [{"ApiKey": []}, {"BearerAuth": []}]


def _document_scope(view: Any, scope: str, *, self_service: bool) -> None:
    """Put the scope, the accepted credentials and the refusals into the OpenAPI document
    (flask-smorest reads `_apidoc`, which functools.wraps copied from the inner view)."""
    apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
    manual = apidoc.setdefault("manual_doc", {})
    manual["security"] = [*_CREDENTIALS, {}] if self_service else _CREDENTIALS
    manual["x-required-scope"] = scope
    responses = manual.setdefault("responses", {})
    responses.setdefault("401", {"description": "Missing or invalid credential."})
    responses.setdefault(
        "403", {"description": f"The credential lacks {scope} or is of another tenant."}
    )
    view._apidoc = apidoc


def current_tenant() -> Tenant:
    tenant: Tenant = g.tenant
    return tenant
