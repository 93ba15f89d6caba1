"""`GET /api/<tenantId>/passes/<passId>/connect`: the WebSocket URL of a pass's live channel,
with a short-lived token bound to the tenant and the pass (docs/api.md#live-channel)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import TENANT_API_ERRORS, ApiError, error_responses
from api.lookup import find_tenant_pass
from shared.credentials.scopes import PASS_READ
from shared.infra.clock import utcnow
from shared.live.connect import LiveChannelOff, connect_link

blp = Blueprint(
    "live",
    __name__,
    url_prefix="/api/<tenantId>/passes",
    description="The live channel of a pass (WebSocket)",
)
protect(blp)


class ConnectSchema(Schema):
    url = fields.String(
        required=True,
        metadata={
            "description": "`ws://` or `wss://` URL of the pass's live channel; its token "
            "opens one connection to this pass only, until `expiresAt`."
        },
    )
    expiresAt = fields.Integer(
        required=True,
        metadata={"description": "Unix seconds after which the URL no longer connects."},
    )


_DESCRIPTIONS = {
    404: "Unknown tenant or pass.",
    503: "The live channel is off (PASSWIRE_LIVE_URL or PASSWIRE_LINK_SECRET is not set; "
    "`errors` names it), or the database is unavailable.",
}


@blp.route("/<passId>/connect")
class PassConnect(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions=_DESCRIPTIONS)
    @requires_scope(PASS_READ)
    @blp.response(200, ConnectSchema)
    def get(self, tenantId: str, passId: str) -> Any:
        """A WebSocket URL to watch the pass: `pass.installed`, `pass.uninstalled` (with the
        wallet), `pass.updated`, `pass.redeemed` and `pass.status` as they happen."""
        pass_id = str(find_tenant_pass(passId)["_id"])
        now = int(utcnow().timestamp())
        try:
            link = connect_link(services.settings(), current_tenant().id, pass_id, now=now)
        except LiveChannelOff as off:
            raise ApiError(
                503,
                f"The live channel is off: {off.setting} is not set.",
                errors=[{"field": off.setting, "reason": "not configured"}],
            ) from off
        return {"url": link.url, "expiresAt": link.expires_at}
