"""`PUT /api/<tenantId>/passes/<passId>/notification`: a campaign of one pass.

The pass is checked here (404 before anything is written); the message and the patch then
travel the push-update path (api/push_updates/launch.py), so one code path delivers every
message and counts it (`google.notified`, `google.notificationSuppressed`).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, error_responses
from api.lookup import find_tenant_pass
from api.notifications.schemas import PassNotificationSchema
from api.passes.schemas import ACCEPTED_HEADERS, AcceptedSchema
from api.push_updates.launch import operation_location, start_campaign
from shared.campaigns.segments import Segment
from shared.credentials.scopes import NOTIFICATION_SEND
from shared.passes.search import PassFilter

blp = Blueprint(
    "pass_notifications",
    __name__,
    url_prefix="/api/<tenantId>/passes",
    description="A message to one pass's holder",
)
protect(blp)


@blp.route("/<passId>/notification")
class PassNotification(MethodView):
    @error_responses(
        *TENANT_API_ERRORS, *JSON_BODY_ERRORS, descriptions={404: "Unknown tenant or pass."}
    )
    @requires_scope(NOTIFICATION_SEND)
    @blp.arguments(PassNotificationSchema)
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    def put(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Send the pass's holder a message, optionally with a JSON Merge Patch of its data:
        a campaign whose segment is this one pass (operation kind `pushUpdate`).

        The message is added to the pass's Google Wallet object, with a notification while
        the pass has some left (3 a day), silently beyond; the patch re-renders the pass and
        pushes its devices like `POST /push-updates`. Each request sends the message again; a
        retry with the same `Idempotency-Key` gets the first answer instead."""
        tenant_id = current_tenant().id
        pass_id: str = find_tenant_pass(passId)["_id"]
        correlation_id = start_campaign(
            tenant_id,
            Segment(filters=PassFilter(), ids=(pass_id,)),
            patch=body["data"],
            message=body["message"],
        )
        accepted = {"correlationId": correlation_id, "passId": pass_id}
        return accepted, 202, operation_location(tenant_id, correlation_id)
