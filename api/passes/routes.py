"""Passes: issuing (`POST`), reading (JSON or .pkpass) and updating (`PATCH`) one pass."""

from __future__ import annotations

import logging
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from api import services
from api.apple.pkpass import pkpass_response
from api.auth import current_tenant, protect
from api.errors import ApiError
from api.passes.schemas import (
    AcceptedSchema,
    CreatePassQuerySchema,
    CreatePassSchema,
    PassQuerySchema,
    PassSchema,
    UpdatePassSchema,
)
from shared import operations
from shared.ids import PASS_ID_PATTERN, new_correlation_id, new_pass_id
from shared.jobs import CREATE_PASS, UPDATE_PASS, EnqueueError
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
    intent = {
        "passId": pass_id,
        "passType": pass_type,
        "identifiers": body["identifiers"],
        "metadata": body["metadata"],
        "additionalData": body["additionalData"],
    }
    return _accept(
        tenant_id,
        "create",
        task_name=CREATE_PASS,
        correlation_id=correlation_id,
        pass_id=pass_id,
        intent=intent,
    )


def _accept(
    tenant_id: str,
    kind: str,
    *,
    task_name: str,
    correlation_id: str,
    pass_id: str,
    intent: dict[str, Any],
) -> Any:
    """Write the operation with its intent, enqueue its job, answer 202."""
    db = services.database()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id, tenant_id=tenant_id, kind=kind, total=1, intent=intent
        ),
    )
    try:
        services.jobs().enqueue(
            task_name, tenant_id=tenant_id, correlation_id=correlation_id, pass_id=pass_id
        )
    except EnqueueError as exc:
        log.error("%s (operation %s)", exc, correlation_id)
        operations.fail(db, correlation_id, "the job queue is unavailable")
        raise ApiError(503, "The job queue is unavailable; nothing was queued.") from exc
    location = url_for("operations.Operation", tenantId=tenant_id, correlationId=correlation_id)
    return {"correlationId": correlation_id, "passId": pass_id}, 202, {"Location": location}


def _find_pass(pass_id: str) -> dict[str, Any]:
    document = None
    if PASS_ID_PATTERN.fullmatch(pass_id):
        document = passes_repo.find_pass(services.database(), current_tenant().id, pass_id)
    if document is None:
        raise ApiError(404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}])
    return document


@blp.route("/<passId>")
class PassItem(MethodView):
    @blp.arguments(PassQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, PassSchema)
    @blp.alt_response(
        200, description="With device=apple: the .pkpass (application/vnd.apple.pkpass)."
    )
    def get(self, query: dict[str, Any], tenantId: str, passId: str) -> Any:
        """One pass as stored (identifiers, metadata, additionalData, install state), or with
        `device=apple` its signed .pkpass (conditional requests answered with 304)."""
        document = _find_pass(passId)
        if query.get("device") == "apple":
            return pkpass_response(current_tenant(), document)
        return public_view(document)

    @blp.arguments(UpdatePassSchema)
    @blp.response(202, AcceptedSchema)
    def patch(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Merge a JSON Merge Patch into the pass's data; a worker re-renders it and pushes
        its devices when the rendered pass changed (an unchanged one counts `unchanged`)."""
        document = _find_pass(passId)
        correlation_id = new_correlation_id()
        intent = {"passId": document["_id"], "patch": body}
        with correlation_context(correlation_id):
            return _accept(
                current_tenant().id,
                "update",
                task_name=UPDATE_PASS,
                correlation_id=correlation_id,
                pass_id=document["_id"],
                intent=intent,
            )
