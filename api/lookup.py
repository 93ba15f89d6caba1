"""Finding the caller's tenant's pass named in a path or by an identifier, or answering 404
(or 409 when an identifier names several)."""

from __future__ import annotations

from typing import Any

from api import services
from api.auth import current_tenant
from api.errors import ApiError
from shared.infra.ids import PASS_ID_PATTERN
from shared.repositories import passes as passes_repo


def find_tenant_pass(pass_id: str) -> dict[str, Any]:
    """The pass of the current tenant; 404 (the same for a malformed id) otherwise."""
    document = None
    if PASS_ID_PATTERN.fullmatch(pass_id):
        document = passes_repo.find_pass(services.database(), current_tenant().id, pass_id)
    if document is None:
        raise ApiError(404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}])
    return document


def one_pass_id(lookup: dict[str, str]) -> str:
    """The id of the current tenant's one pass `lookup` names; 404 for none, 409 for several."""
    matches = passes_repo.find_pass_ids(services.database(), current_tenant().id, lookup, limit=2)
    if not matches:
        raise ApiError(404, "No pass matches.", errors=[{"field": "id", "reason": "no match"}])
    if len(matches) > 1:
        raise ApiError(
            409,
            "Several passes match; name one by its id or a unique identifier.",
            errors=[{"field": "id", "reason": "more than one pass matches"}],
        )
    return matches[0]
