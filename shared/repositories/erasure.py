"""Erasing a pass's traces (GDPR): every document of every collection that names the pass,
its holder's devices or its data. Each function is idempotent, so a redelivered job simply
runs them again. Erasures are rare: the body matches below read the tenant's webhook
deliveries (kept 30 days) and idempotency records without an index.

What names a pass where:
- passes, deleted_passes: `_id`
- registrations (push tokens, device ids): `serialNumber`
- install_clicks (user agents, origins), install_attributions, self_service_claims: `passId`
- webhook_deliveries: `passId` (since connectors' outbound bodies), or the event body (a JSON
  string) holds `"passId":"<id>"`
- google_callbacks: `objectId`, "<issuer id>.<pass id>"
- idempotency_keys: the stored response body (create, update... answer the pass id)
- pass_tombstones: the linkable tombstone of a plain deletion (tombstones.pass_key)
- consent_changes (the consent audit trail), deferred_alerts: `passId`
- operations: the intent of a job not yet finished (a create or update intent holds the
  identifiers and metadata; an email intent the address), and `errors[].id`
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pymongo.database import Database

from shared.repositories import (
    consent_changes,
    deferred_alerts,
    deleted_passes,
    google_callbacks,
    idempotency,
    install_attributions,
    install_clicks,
    operations,
    passes,
    registrations,
    self_service_claims,
    tombstones,
    webhook_deliveries,
)

Document = dict[str, Any]


def _as_json_string(pass_id: str) -> Document:
    # Pass ids are letters, digits, '_' and '-': JSON writes them unescaped, between quotes,
    # so the quotes keep a short id from matching inside a longer value.
    return {"$regex": f'"{re.escape(pass_id)}"'}


def erase_traces(db: Database[Any], tenant_id: str, pass_id: str) -> dict[str, int]:
    """Delete every document naming the pass outside `operations`; how many per collection."""
    by_id = {"_id": pass_id, "tenant": tenant_id}
    erased = {
        passes.COLLECTION: db[passes.COLLECTION].delete_one(by_id),
        deleted_passes.COLLECTION: db[deleted_passes.COLLECTION].delete_one(by_id),
        registrations.COLLECTION: db[registrations.COLLECTION].delete_many(
            {"tenant": tenant_id, registrations.SERIAL: pass_id}
        ),
        install_clicks.COLLECTION: db[install_clicks.COLLECTION].delete_many(
            {"tenant": tenant_id, "passId": pass_id}
        ),
        install_attributions.COLLECTION: db[install_attributions.COLLECTION].delete_many(
            {"tenant": tenant_id, "passId": pass_id}
        ),
        self_service_claims.COLLECTION: db[self_service_claims.COLLECTION].delete_many(
            {"tenant": tenant_id, "passId": pass_id}
        ),
        webhook_deliveries.COLLECTION: db[webhook_deliveries.COLLECTION].delete_many(
            {"tenant": tenant_id, "$or": [{"passId": pass_id}, {"body": _as_json_string(pass_id)}]}
        ),
        google_callbacks.COLLECTION: db[google_callbacks.COLLECTION].delete_many(
            {"tenant": tenant_id, "objectId": {"$regex": rf"^[0-9]+\.{re.escape(pass_id)}$"}}
        ),
        # Records are keyed `<tenant>:<credential>:<key>`; only completed ones hold a body.
        idempotency.COLLECTION: db[idempotency.COLLECTION].delete_many(
            {
                "_id": {"$regex": f"^{re.escape(tenant_id)}:"},
                "response.body": _as_json_string(pass_id),
            }
        ),
        consent_changes.COLLECTION: db[consent_changes.COLLECTION].delete_many(
            {"tenant": tenant_id, "passId": pass_id}
        ),
        deferred_alerts.COLLECTION: db[deferred_alerts.COLLECTION].delete_many(
            {"tenant": tenant_id, "passId": pass_id}
        ),
        tombstones.COLLECTION: db[tombstones.COLLECTION].delete_one(
            {"_id": tombstones.pass_key(tenant_id, pass_id), "tenant": tenant_id}
        ),
    }
    return {name: int(result.deleted_count) for name, result in erased.items()}


def operations_naming(
    db: Database[Any],
    tenant_id: str,
    pass_id: str,
    *,
    statuses: Iterable[str],
    kinds_besides: Iterable[str],
) -> list[str]:
    """Ids of the tenant's operations in `statuses`, of a kind not in `kinds_besides`, whose
    intent names the pass."""
    found = db[operations.COLLECTION].find(
        {
            "tenant": tenant_id,
            "intent.passId": pass_id,
            "status": {"$in": list(statuses)},
            "kind": {"$nin": list(kinds_besides)},
        },
        {"_id": 1},
    )
    return [str(document["_id"]) for document in found]


def forget_in_operations(
    db: Database[Any], tenant_id: str, pass_id: str, *, ended: Iterable[str]
) -> None:
    """Drop the intents naming the pass of operations in `ended` statuses (ending drops the
    intent already; this catches any left behind), and every item error naming it."""
    db[operations.COLLECTION].update_many(
        {"tenant": tenant_id, "intent.passId": pass_id, "status": {"$in": list(ended)}},
        {"$unset": {"intent": ""}},
    )
    db[operations.COLLECTION].update_many(
        {"tenant": tenant_id, "errors.id": pass_id},
        {"$pull": {"errors": {"id": pass_id}}},
    )
