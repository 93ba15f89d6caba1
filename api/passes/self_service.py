"""Self-service issuing at the HTTP edge: vouch for the identifiers, answer the existing pass
for identifiers seen before, else issue as usual. Nothing is written for a refused request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api import services
from api.errors import ApiError
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.repositories import self_service_claims
from shared.self_service import NotVouchedFor, check_vouched, claim_key
from shared.tenancy.tenants import Tenant

Issue = Callable[..., Any]


def issue_self_service(
    tenant: Tenant,
    pass_type: str,
    body: dict[str, Any],
    signatures: dict[str, str],
    correlation_id: str,
    *,
    issue: Issue,
) -> Any:
    config = tenant.self_service
    # Without identifiers to vouch for, this is simply a request without a credential.
    if config is None or pass_type not in config.pass_types or not body["identifiers"]:
        raise ApiError(
            401,
            "This pass type cannot be issued without a credential.",
            errors=[{"field": "X-API-Key", "reason": "missing"}],
        )
    extras = [name for name in ("metadata", "additionalData") if body[name]]
    if extras:
        raise ApiError(
            422,
            "Self-service issuing takes identifiers only.",
            errors=[
                {"field": name, "reason": "not accepted without a credential"} for name in extras
            ],
        )
    try:
        check_vouched(config, body["identifiers"], signatures)
    except NotVouchedFor as exc:
        raise ApiError(
            401,
            "An identifier is not vouched for.",
            errors=[{"field": f"identifiers.{exc.key}", "reason": exc.reason}],
        ) from None
    db = services.database()
    key = claim_key(tenant.id, pass_type, body["identifiers"])
    pass_id = new_pass_id()
    earlier = self_service_claims.claim(
        db, key, tenant_id=tenant.id, pass_id=pass_id, correlation_id=correlation_id, now=utcnow()
    )
    if earlier is not None:
        return {"correlationId": earlier["correlationId"], "passId": earlier["passId"]}, 200
    try:
        return issue(tenant.id, pass_type, body, correlation_id, pass_id)
    except Exception:
        self_service_claims.release(db, key)  # a failed issue must not block a retry
        raise
