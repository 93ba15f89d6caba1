"""Statistics of a tenant's passes (shared/stats/): the population now, and events per day.
Both read counters kept on write: a few small documents per request, whatever the number
of passes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import Response
from flask.views import MethodView
from marshmallow import RAISE

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import TENANT_API_ERRORS, error_responses
from api.stats.schemas import StatsQuerySchema, StatsSchema, TimelineQuerySchema, TimelineSchema
from shared.credentials.scopes import PASS_READ
from shared.stats import reading

blp = Blueprint(
    "stats",
    __name__,
    url_prefix="/api/<tenantId>",
    description="Statistics: the pass population and events per day",
)
protect(blp)

# `/passes/stats` is also a path `/passes/<passId>` matches: Flask's automatic OPTIONS answer
# would advertise that rule's PATCH and DELETE too. This one says what the path supports.
allow_blp = FlaskBlueprint("stats_allow", __name__, url_prefix="/api/<tenantId>")


@allow_blp.route("/passes/stats", methods=["OPTIONS"], provide_automatic_options=False)
def stats_options(tenantId: str) -> Response:
    return Response(status=200, headers={"Allow": "GET, HEAD, OPTIONS"})


@blp.route("/passes/stats")
class PassStats(MethodView):
    provide_automatic_options = False  # stats_options answers OPTIONS

    @error_responses(*TENANT_API_ERRORS, 422, descriptions={404: "Unknown tenant."})
    @requires_scope(PASS_READ)
    @blp.arguments(StatsQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, StatsSchema)
    def get(self, query: dict[str, Any], tenantId: str) -> Any:
        """Passes that exist, are installed in a wallet (active), in Apple Wallet and in
        Google Wallet: of one pass type (`passType`) or all. An unknown pass type has none."""
        pass_type = query.get("passType")
        counts = reading.population(services.database(), current_tenant().id, pass_type)
        return {"passType": pass_type, **counts}


@blp.route("/stats/timeline")
class Timeline(MethodView):
    @error_responses(*TENANT_API_ERRORS, 422, descriptions={404: "Unknown tenant."})
    @requires_scope(PASS_READ)
    @blp.arguments(TimelineQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, TimelineSchema)
    def get(self, query: dict[str, Any], tenantId: str) -> Any:
        """created, installed, uninstalled, redeemed and notified per day (UTC) and pass
        type, from `from` to `to` (at most 366 days); days without events are left out."""
        first, last = query["from_"], query["to"]
        buckets = reading.timeline(
            services.database(),
            current_tenant().id,
            first=first,
            last=last,
            group_by=query["groupBy"],
        )
        return {
            "from_": first.isoformat(),
            "to": last.isoformat(),
            "by": query["by"],
            "groupBy": query["groupBy"],
            "buckets": buckets,
        }
