"""Indexes every query of passwire relies on, created at start-up (idempotent)."""

from __future__ import annotations

import logging
import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database
from pymongo.errors import ConnectionFailure

from shared.repositories import (
    connectors,
    consent_changes,
    dashboard_sessions,
    deferred_alerts,
    deleted_passes,
    imports,
    install_attributions,
    install_clicks,
    operations,
    owed_deliveries,
    passes,
    passtypes,
    registrations,
    sftp_uploads,
    stats,
    tombstones,
    webhook_deliveries,
)

log = logging.getLogger(__name__)

# Renamed when their filter changed (an index keeps its options under its name).
_OWED_INDEX_NAMES = {
    "applePushPending": "applePushPending_updatedAt",
    "googlePending": "googlePending_holder_updatedAt",
}
# Indexes of earlier versions, dropped at start-up.
RETIRED: dict[str, list[str]] = {passes.COLLECTION: ["googlePending_updatedAt"]}

INDEXES: dict[str, list[IndexModel]] = {
    passes.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("passType", ASCENDING)], name="tenant_passType"),
        IndexModel([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="tenant_createdAt"),
        # Pass search (shared/passes/search.py) ends every sort with `_id` in the direction
        # of the last key, so each index below serves its sort both ways without sorting:
        # no filter or sort (by id), passType filter and/or sort, sort by creationDate or
        # lastUpdateDate. identifiers.*, metadata.* and install-state filters and sorts are
        # not indexed (keys differ per tenant; the dev server has no wildcard indexes): they
        # read the tenant's range of one of these indexes and stay exact.
        IndexModel([("tenant", ASCENDING), ("_id", ASCENDING)], name="tenant_id"),
        IndexModel(
            [("tenant", ASCENDING), ("passType", ASCENDING), ("_id", ASCENDING)],
            name="tenant_passType_id",
        ),
        IndexModel(
            [("tenant", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
            name="tenant_createdAt_id",
        ),
        IndexModel(
            [("tenant", ASCENDING), ("updatedAt", DESCENDING), ("_id", DESCENDING)],
            name="tenant_updatedAt_id",
        ),
        # The expiry sweep: active passes whose expirationDate has come, oldest first.
        IndexModel(
            [("status", ASCENDING), ("expirationDate", ASCENDING)], name="status_expirationDate"
        ),
        # A scanned barcode names its pass (POST /redemptions {"barcode": ...}).
        IndexModel(
            [("tenant", ASCENDING), ("apple.barcodeMessages", ASCENDING)],
            name="tenant_barcodeMessages",
        ),
        # The resend sweep: passes still owing a wallet, oldest change first. Partial, so
        # they hold only the few passes whose delivery is in flight or failed (a Google
        # object nobody holds waits for its Save link click: not in the index).
        *(
            IndexModel(
                [(flag, ASCENDING), ("updatedAt", ASCENDING)],
                name=_OWED_INDEX_NAMES[flag],
                partialFilterExpression=owed_deliveries.OWED_WHEN[flag],
            )
            for flag in owed_deliveries.OWED_FLAGS
        ),
    ],
    operations.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("createdAt", DESCENDING)], name="tenant_createdAt"),
        # The campaign watchdog's look for stalled campaigns (shared/campaigns/recovery.py).
        IndexModel(
            [("status", ASCENDING), ("updatedAt", ASCENDING)],
            name="campaign_status_updatedAt",
            partialFilterExpression={"kind": "pushUpdate"},
        ),
        # The same look for stalled previews: an index of its own (a database holding the
        # campaigns' one could not take its definition changed), on another key pattern (older
        # MongoDB refuses two indexes of one pattern).
        IndexModel(
            [("kind", ASCENDING), ("status", ASCENDING), ("updatedAt", ASCENDING)],
            name="preview_status_updatedAt",
            partialFilterExpression={"kind": "preview"},
        ),
        # The beat job's look for scheduled campaigns that came due (campaigns/scheduling.py).
        IndexModel(
            [("status", ASCENDING), ("scheduledAt", ASCENDING)],
            name="status_scheduledAt",
            partialFilterExpression={"scheduledAt": {"$exists": True}},
        ),
        IndexModel(
            [("tenant", ASCENDING), ("intent.passId", ASCENDING)],
            name="tenant_intent_passId",
            partialFilterExpression={"intent.passId": {"$exists": True}},
        ),
    ],
    registrations.COLLECTION: [
        IndexModel(
            [
                ("deviceLibraryIdentifier", ASCENDING),
                ("passTypeIdentifier", ASCENDING),
                ("serialNumber", ASCENDING),
            ],
            name="device_passType_serial",
            unique=True,
        ),
        # Every registered device of a pass (APNs fan-out, clean-up when a pass goes).
        IndexModel([("tenant", ASCENDING), ("serialNumber", ASCENDING)], name="tenant_serial"),
        # APNs answers 410 for a push token that is no longer valid.
        IndexModel(
            [("pushToken", ASCENDING), ("passTypeIdentifier", ASCENDING)],
            name="pushToken_passType",
        ),
    ],
    # A pass's install clicks (campaign reports, clean-up when a pass goes).
    install_clicks.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("passId", ASCENDING)], name="tenant_passId"),
    ],
    # Installs credited to link clicks: statistics by medium or tag over a date range.
    install_attributions.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("installedAt", ASCENDING)], name="tenant_installedAt"),
        IndexModel([("tenant", ASCENDING), ("passId", ASCENDING)], name="tenant_passId"),
    ],
    # What devices still fetch of a deleted pass goes RETENTION_S after the deletion at most.
    deleted_passes.COLLECTION: [
        IndexModel(
            [("deletedAt", ASCENDING)],
            name="retention",
            expireAfterSeconds=deleted_passes.RETENTION_S,
        ),
    ],
    # Deletions of a tenant's passes over time (statistics).
    tombstones.COLLECTION: [
        IndexModel([("tenant", ASCENDING), ("deletedAt", DESCENDING)], name="tenant_deletedAt"),
    ],
    imports.COLLECTION: [
        # An import's results, in file order (GET /imports/{correlationId}/results.csv).
        IndexModel(
            [("tenant", ASCENDING), ("correlationId", ASCENDING), ("index", ASCENDING)],
            name="tenant_correlationId_index",
        ),
        IndexModel(
            [("createdAt", ASCENDING)], name="retention", expireAfterSeconds=imports.RETENTION_S
        ),
    ],
    # A pass's consent audit trail, in order (and its erasure).
    consent_changes.COLLECTION: [
        IndexModel(
            [("tenant", ASCENDING), ("passId", ASCENDING), ("recordedAt", ASCENDING)],
            name="tenant_passId_recordedAt",
        ),
    ],
    deferred_alerts.COLLECTION: [
        # The sender's claim (due pending alerts, earliest first); a campaign's next one.
        IndexModel([("status", ASCENDING), ("dueAt", ASCENDING)], name="status_dueAt"),
        IndexModel(
            [("correlationId", ASCENDING), ("status", ASCENDING), ("dueAt", ASCENDING)],
            name="correlationId_status_dueAt",
        ),
        IndexModel([("tenant", ASCENDING), ("passId", ASCENDING)], name="tenant_passId"),
        # Sent alerts go after a while (pending ones have no sentAt and stay).
        IndexModel(
            [("sentAt", ASCENDING)],
            name="retention",
            expireAfterSeconds=deferred_alerts.RETENTION_S,
        ),
    ],
    # A pass type's versions by number; every process reads a tenant's active versions.
    passtypes.VERSIONS: [
        IndexModel(
            [("tenant", ASCENDING), ("name", ASCENDING), ("number", DESCENDING)],
            name="tenant_name_number",
        )
    ],
    passtypes.ACTIVE: [IndexModel([("tenant", ASCENDING)], name="tenant")],
    # API-defined connectors, looked up per tenant (shared/connectors/stored.py).
    connectors.COLLECTION: [IndexModel([("tenant", ASCENDING)], name="tenant")],
    webhook_deliveries.COLLECTION: [
        # Counts per endpoint and status; an endpoint's deliveries and failures, newest first.
        IndexModel(
            [("tenant", ASCENDING), ("endpoint.id", ASCENDING), ("status", ASCENDING)],
            name="tenant_endpoint_status",
        ),
        IndexModel(
            [("tenant", ASCENDING), ("endpoint.id", ASCENDING), ("createdAt", DESCENDING)],
            name="tenant_endpoint_createdAt",
        ),
        IndexModel(
            [("tenant", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING)],
            name="tenant_status_createdAt",
        ),
        IndexModel(
            [("tenant", ASCENDING), ("endpoint.id", ASCENDING), ("lastFailure.at", DESCENDING)],
            name="tenant_endpoint_lastFailure",
        ),
        # Pending deliveries whose job was lost (shared.webhooks.events.requeue_overdue).
        IndexModel([("status", ASCENDING), ("nextAttemptAt", ASCENDING)], name="status_next"),
        IndexModel(
            [("createdAt", ASCENDING)],
            name="retention",
            expireAfterSeconds=webhook_deliveries.RETENTION_S,
        ),
    ],
    # The SFTP drop's sweeps (unfinished uploads, oldest first) and its daily count per tenant.
    sftp_uploads.COLLECTION: [
        IndexModel([("status", ASCENDING), ("receivedAt", ASCENDING)], name="status_receivedAt"),
        IndexModel([("tenant", ASCENDING), ("receivedAt", ASCENDING)], name="tenant_receivedAt"),
    ],
    # Statistics (shared/stats/): timeline buckets read by tenant, dimension and day range;
    # counters by tenant; the sweep's drift records by tenant and pass type.
    stats.TIMELINE: [
        IndexModel(
            [("tenant", ASCENDING), ("dimension", ASCENDING), ("day", ASCENDING)],
            name="tenant_dimension_day",
        )
    ],
    stats.COUNTERS: [IndexModel([("tenant", ASCENDING)], name="tenant")],
    stats.DRIFT: [
        IndexModel(
            [("tenant", ASCENDING), ("passType", ASCENDING), ("seenAt", DESCENDING)],
            name="tenant_passType_seenAt",
        )
    ],
    dashboard_sessions.COLLECTION: [
        IndexModel([("expiresAt", ASCENDING)], name="expiry", expireAfterSeconds=0)
    ],
}


def ensure_indexes(db: Database[Any], *, wait_s: float = 0) -> None:
    """Create every index; with `wait_s`, keep trying that long while MongoDB comes up."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            for collection, models in INDEXES.items():
                db[collection].create_indexes(models)
            _drop_retired(db)
            return
        except ConnectionFailure:
            if time.monotonic() >= deadline:
                raise
            log.warning("MongoDB not reachable yet; retrying index creation")
            time.sleep(2)


def _drop_retired(db: Database[Any]) -> None:
    for collection, names in RETIRED.items():
        existing = set(db[collection].index_information())
        for name in names:
            if name in existing:
                db[collection].drop_index(name)
