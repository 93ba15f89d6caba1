"""Issuing passes: `POST /api/<tenantId>/passes` and reading one pass."""

from __future__ import annotations

import logging
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from api import services
from api.auth import current_tenant, protect
from api.errors import ApiError
from api.passes.schemas import (
    AcceptedSchema,
    CreatePassQuerySchema,
    CreatePassSchema,
    PassSchema,
)
from shared import operations
from shared.ids import PASS_ID_PATTERN, new_correlation_id, new_pass_id
from shared.jobs import CREATE_PASS, EnqueueError
from shared.logs import correlation_context
from shared.passes.documents import public_view
from shared.repositories import passes as passes_repo

log = logging.getLogger(__name__)

blp = Blueprint("passes", __name__, url_prefix="/api/<tenantId>/passes", description="Passes")
protect(blp)


@blp.route("")
class PassCollection(MethodView):
    # webargs ignores unknown query parameters unless told otherwise.
    @blp.arguments(CreatePassQuerySchema, location="query", unknown=RAISE)
    @blp.arguments(CreatePassSchema)
    @blp.response(202, AcceptedSchema)
    def post(self, query: dict[str, Any], body: dict[str, Any], tenantId: str) -> Any:
        """Issue a pass: answers at once with a correlationId; a worker creates the pass."""
        tenant = current_tenant()
        pass_type = query["passType"]
        if pass_type not in tenant.pass_types:
            raise ApiError(
                422,
                f"Unknown pass type '{pass_type}'.",
                errors=[
                    {"field": "passType", "reason": f"tenant '{tenant.id}' has no such pass type"}
                ],
            )
        correlation_id = new_correlation_id()
        with correlation_context(correlation_id):
            return _issue(tenant.id, pass_type, body, correlation_id)


def _issue(tenant_id: str, pass_type: str, body: dict[str, Any], correlation_id: str) -> Any:
    """Persist the intent first, so MongoDB knows of every job the queue holds."""
    pass_id = new_pass_id()
    db = services.database()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id=tenant_id,
            kind="create",
            total=1,
            intent={
                "passId": pass_id,
                "passType": pass_type,
                "identifiers": body["identifiers"],
                "metadata": body["metadata"],
                "additionalData": body["additionalData"],
            },
        ),
    )
    try:
        services.jobs().enqueue(
            CREATE_PASS, tenant_id=tenant_id, correlation_id=correlation_id, pass_id=pass_id
        )
    except EnqueueError as exc:
        log.error("%s (operation %s)", exc, correlation_id)
        operations.fail(db, correlation_id, "the job queue is unavailable")
        raise ApiError(503, "The job queue is unavailable; nothing was queued.") from exc
    location = url_for("operations.Operation", tenantId=tenant_id, correlationId=correlation_id)
    return {"correlationId": correlation_id, "passId": pass_id}, 202, {"Location": location}


@blp.route("/<passId>")
class PassItem(MethodView):
    @blp.response(200, PassSchema)
    def get(self, tenantId: str, passId: str) -> Any:
        """One pass as stored (identifiers, metadata, additionalData, install state)."""
        if not PASS_ID_PATTERN.fullmatch(passId):
            raise ApiError(
                404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}]
            )
        document = passes_repo.find_pass(services.database(), current_tenant().id, passId)
        if document is None:
            raise ApiError(
                404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}]
            )
        return public_view(document)
