"""Per-endpoint delivery status, for the integrator's view of their webhooks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shared.repositories import webhook_deliveries as repo
from shared.webhooks.config import WebhookEndpoint

if TYPE_CHECKING:
    from pymongo.database import Database

STATUSES = ("pending", "delivered", "failed")


def endpoint_statuses(
    db: Database[Any], tenant_id: str, configured: Iterable[WebhookEndpoint]
) -> list[dict[str, Any]]:
    """Every configured endpoint, and every endpoint with recorded deliveries (one since
    removed from the configuration shows `configured: false`), with counts per status over
    the retention period and its latest failed attempt."""
    endpoints = {endpoint.id: endpoint for endpoint in configured}
    ids = list(endpoints) + [i for i in repo.endpoint_ids(db, tenant_id) if i not in endpoints]
    return [_status(db, tenant_id, endpoint_id, endpoints.get(endpoint_id)) for endpoint_id in ids]


def _status(
    db: Database[Any], tenant_id: str, endpoint_id: str, endpoint: WebhookEndpoint | None
) -> dict[str, Any]:
    url: str | None = None
    events: list[str] = []
    if endpoint is not None:
        url, events = endpoint.url, sorted(endpoint.events)
    elif latest := repo.latest(db, tenant_id, endpoint_id):
        url = latest["endpoint"]["url"]
    failure = repo.last_failure(db, tenant_id, endpoint_id)
    return {
        "id": endpoint_id,
        "url": url,
        "events": events,
        "configured": endpoint is not None,
        "counts": {s: repo.count_by_status(db, tenant_id, endpoint_id, s) for s in STATUSES},
        "lastFailure": None
        if failure is None
        else {
            **failure["lastFailure"],
            "deliveryId": failure["_id"],
            "eventId": failure["eventId"],
            "type": failure["type"],
        },
    }
