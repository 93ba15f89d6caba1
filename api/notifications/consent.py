"""Recording a holder's consent from a request: who is the caller's credential."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import g

from api import services
from api.auth import current_tenant
from api.errors import ApiError
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id
from shared.notifications import consent


def current_principal() -> str:
    """Who is calling, as the audit trail names them: `api-key:<id>`, `config-key:<name>`,
    `jwt:<sub>` or `anonymous` (self-service)."""
    return str(g.principal.credential)


def record_consent(pass_id: str, body: Mapping[str, Any], *, via: str) -> dict[str, Any]:
    """Store the pass's consent at once and audit the change; the stored consent. 404 when
    the pass is gone."""
    now = utcnow()
    stored = consent.given(body, now=now)
    changed = consent.change(
        services.database(),
        tenant_id=current_tenant().id,
        pass_id=pass_id,
        stored=stored,
        who=current_principal(),
        via=via,
        now=now,
        key=new_correlation_id(),
    )
    if not changed:
        raise ApiError(404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}])
    return stored
