"""Webhooks: each endpoint's delivery status and its recent deliveries."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import TENANT_API_ERRORS, error_responses
from api.webhooks.schemas import DeliveriesQuerySchema, DeliveriesSchema, WebhooksSchema
from shared.credentials.scopes import PASS_READ
from shared.repositories import webhook_deliveries as deliveries_repo
from shared.webhooks.config import WebhookEndpoint
from shared.webhooks.status import endpoint_statuses

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/<tenantId>/webhooks",
    description="Webhooks (event notifications to the tenant's endpoints)",
)
protect(blp)


def _configured() -> tuple[WebhookEndpoint, ...]:
    return current_tenant().webhooks


@blp.route("")
class Webhooks(MethodView):
    @error_responses(*TENANT_API_ERRORS)
    @requires_scope(PASS_READ)
    @blp.response(200, WebhooksSchema)
    def get(self, tenantId: str) -> Any:
        """Each endpoint with its events, delivery counts per status (last 30 days) and its
        latest failed attempt (time, HTTP status, error)."""
        statuses = endpoint_statuses(services.database(), current_tenant().id, _configured())
        return {"endpoints": statuses}


@blp.route("/deliveries")
class Deliveries(MethodView):
    @error_responses(*TENANT_API_ERRORS, 422)
    @requires_scope(PASS_READ)
    @blp.arguments(DeliveriesQuerySchema, location="query")
    @blp.response(200, DeliveriesSchema)
    def get(self, query: dict[str, Any], tenantId: str) -> Any:
        """Recent deliveries, newest first, optionally of one status and/or endpoint, with
        their recent attempts."""
        page, size = query["page"], query["pageSize"]
        found, total = deliveries_repo.list_deliveries(
            services.database(),
            current_tenant().id,
            status=query.get("status"),
            endpoint_id=query.get("endpoint"),
            skip=(page - 1) * size,
            limit=size,
        )
        return {"deliveries": found, "page": page, "pageSize": size, "total": total}
