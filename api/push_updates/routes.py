"""Campaigns: one change pushed to a segment of the tenant's passes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, error_responses
from api.passes.schemas import ACCEPTED_HEADERS
from api.push_updates.launch import operation_location, preview_campaign, start_campaign
from api.push_updates.schemas import (
    CampaignPreviewResultSchema,
    PushUpdateAcceptedSchema,
    PushUpdateSchema,
)
from shared import operations
from shared.credentials.scopes import NOTIFICATION_SEND

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
    @blp.alt_response(
        200,
        schema=CampaignPreviewResultSchema,
        description="`dryRun` over a small segment: the preview itself (a larger one is a "
        "202 and an operation of kind `preview` whose `preview` holds the report).",
        success=True,
    )
    def post(self, body: dict[str, Any], tenantId: str) -> Any:
        """Apply a JSON Merge Patch to every pass of a segment, re-render the passes whose
        Apple pass changed and push their devices (unchanged ones count `unchanged`).

        `filter` uses the pass search grammar as JSON; `{}` selects every pass of the tenant.
        `message` reaches every registered iPhone as a lock-screen notification (the pass is
        re-rendered with it, kept on its back with the few before it, and its devices pushed:
        `apple.notified`) and is added to each pass's Google Wallet object, notifying the holder
        at most 3 times a day per pass (silent beyond, counted `google.notificationSuppressed`).
        Follow the job at the
        Location (operation kind `pushUpdate`, with throughput and ETA while it runs).

        `scheduledAt` defers the start (status `scheduled`, cancellable until it starts),
        `throughput` caps the passes per second, `dryRun` previews without changing anything
        (docs/campaigns.md). Pause and resume at `/operations/{correlationId}/pause|resume`."""
        tenant_id = current_tenant().id
        if body["dryRun"]:
            return preview_campaign(
                tenant_id,
                body["filter"],
                patch=body["data"],
                message=body["message"],
                quiet_hours=body.get("quietHours", False),
            )
        correlation_id = start_campaign(
            tenant_id,
            body["filter"],
            patch=body["data"],
            message=body["message"],
            scheduled_at=body["scheduledAt"],
            throughput=body["throughput"],
            quiet_hours=body.get("quietHours", False),
        )
        status = operations.QUEUED if body["scheduledAt"] is None else operations.SCHEDULED
        accepted = {"correlationId": correlation_id, "status": status}
        return accepted, 202, operation_location(tenant_id, correlation_id)
