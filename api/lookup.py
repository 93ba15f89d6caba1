"""Finding the caller's tenant's pass named in a path, or answering 404."""

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
