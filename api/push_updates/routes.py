"""Campaigns: one change pushed to a segment of the tenant's passes."""

from __future__ import annotations

import logging
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from api.passes.schemas import ACCEPTED_HEADERS
from api.push_updates.schemas import PushUpdateAcceptedSchema, PushUpdateSchema
from shared import operations
from shared.campaigns import PLAN_TASK, PUSH_UPDATE
from shared.campaigns.segments import to_intent
from shared.credentials.scopes import NOTIFICATION_SEND
from shared.ids import new_correlation_id
from shared.jobs import EnqueueError
from shared.logs import correlation_context

log = logging.getLogger(__name__)

blp = Blueprint(
    "push_updates",
    __name__,
    url_prefix="/api/<tenantId>/push-updates",
    description="Campaigns: update a segment of passes and push their devices",
)
protect(blp)


@blp.route("")
class PushUpdates(MethodView):
    @error_responses(*TENANT_API_ERRORS, *JSON_BODY_ERRORS)
    @requires_scope(NOTIFICATION_SEND)
    @blp.arguments(PushUpdateSchema)
    @blp.response(202, PushUpdateAcceptedSchema, headers=ACCEPTED_HEADERS)
    def post(self, body: dict[str, Any], tenantId: str) -> Any:
        """Apply a JSON Merge Patch to every pass of a segment, re-render the passes whose
        Apple pass changed and push their devices (unchanged ones count `unchanged`).

        `filter` uses the pass search grammar as JSON; `{}` selects every pass of the tenant.
        `message` is stored on the operation but not delivered yet. Follow the job at the
        Location (operation kind `pushUpdate`, with throughput and ETA while it runs)."""
        tenant_id = current_tenant().id
        correlation_id = new_correlation_id()
        document = operations.new_operation(
            correlation_id=correlation_id,
            tenant_id=tenant_id,
            kind=PUSH_UPDATE,
            total=0,  # the planning job counts the segment
            intent={"segment": to_intent(body["filter"]), "patch": body["data"]},
        )
        if body["message"] is not None:
            # Kept after the job ends (the intent is dropped then): what was asked is on record.
            document["message"] = {**body["message"], "delivered": False}
        db = services.database()
        with correlation_context(correlation_id):
            operations.create(db, document)
            try:
                services.jobs().enqueue(
                    PLAN_TASK, tenant_id=tenant_id, correlation_id=correlation_id
                )
            except EnqueueError as exc:
                log.error("%s (operation %s)", exc, correlation_id)
                operations.fail(db, correlation_id, "the job queue is unavailable")
                raise ApiError(503, "The job queue is unavailable; nothing was queued.") from exc
        location = url_for("operations.Operation", tenantId=tenant_id, correlationId=correlation_id)
        return {"correlationId": correlation_id}, 202, {"Location": location}
