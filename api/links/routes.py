"""`POST /api/{tenantId}/passes/{passId}/links`: a pass's links for an email or SMS, and
`GET /api/{tenantId}/passes/stats/installs`: installs credited to their links' medium or tag."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, error_responses
from api.links.minting import mint_links
from api.links.schemas import InstallsQuerySchema, InstallsSchema, LinksRequestSchema, LinksSchema
from api.lookup import find_tenant_pass
from api.multipass import tenant_passes
from shared.attribution import installs_report
from shared.credentials.scopes import PASS_READ
from shared.multipass import is_pass_list

blp = Blueprint(
    "links", __name__, url_prefix="/api/<tenantId>/passes", description="Links and attribution"
)
protect(blp)


@blp.route("/<passId>/links")
class PassLinks(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            404: "Unknown tenant or pass (for `id1,id2,…`: `errors` names every unknown one).",
            422: "Invalid body (`errors` names the field), or a pass list of more than 10.",
            503: "Links are disabled: PASSWIRE_LINK_SECRET is not set.",
        },
    )
    @requires_scope(PASS_READ)
    @blp.arguments(LinksRequestSchema)
    @blp.response(200, LinksSchema)
    def post(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Links to the pass for an email or SMS: its signed download page, a direct .pkpass
        download and a direct Save to Google Wallet link; each click is recorded with the
        medium and tags, and the install that follows is credited to them.

        `passId` may list up to 10 passes (`id1,id2,…`): one page with every pass, a
        `.pkpasses` bundle and one Save link for them all."""
        tenant = current_tenant()
        if is_pass_list(passId):
            tenant_passes(tenant, passId)
        else:
            find_tenant_pass(passId)
        return mint_links(tenant.id, passId, body)


@blp.route("/stats/installs")
class InstallStats(MethodView):
    @error_responses(*TENANT_API_ERRORS, 422)
    @requires_scope(PASS_READ)
    @blp.arguments(InstallsQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, InstallsSchema)
    def get(self, query: dict[str, Any], tenantId: str) -> Any:
        """Installs credited to a link click within the attribution window
        (PASSWIRE_ATTRIBUTION_WINDOW_H), per medium or per tag and wallet, in [from, to)."""
        return {
            "by": query["by"],
            "windowHours": services.settings().attribution_window_h,
            "installs": installs_report(
                services.database(),
                current_tenant().id,
                by=query["by"],
                start=query.get("from_"),
                end=query.get("to"),
            ),
        }
