from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from api.push_updates.schemas import CampaignPreviewSchema
from shared import lifecycle
from shared.campaigns import PREVIEW
from shared.imports import IMPORT
from shared.operations import ACTIVE_STATUSES, FINAL_STATUSES, WAITING_STATUSES

STATUSES = (*ACTIVE_STATUSES, *WAITING_STATUSES, *FINAL_STATUSES)


class AppleCountersSchema(Schema):
    pushed = fields.Integer(load_default=0, dump_default=0)
    failed = fields.Integer(load_default=0, dump_default=0)
    unregistered = fields.Integer(load_default=0, dump_default=0)
    notified = fields.Integer(
        metadata={
            "description": "pushes that brought a lock-screen message (also counted in "
            "`pushed`); present once a message was delivered"
        }
    )
    notificationSuppressed = fields.Integer(
        metadata={
            "description": "passes whose message was recorded without a lock-screen alert "
            "(consent, budget; see `suppressed`); present once one was"
        }
    )


class GoogleCountersSchema(Schema):
    updated = fields.Integer(
        dump_default=0, metadata={"description": "objects brought up to date (inserted + patched)"}
    )
    inserted = fields.Integer(dump_default=0, metadata={"description": "objects inserted"})
    patched = fields.Integer(dump_default=0, metadata={"description": "objects PATCHed"})
    failed = fields.Integer(dump_default=0, metadata={"description": "passes Google refused"})
    notified = fields.Integer(
        dump_default=0, metadata={"description": "messages added with a notification"}
    )
    notificationSuppressed = fields.Integer(
        dump_default=0,
        metadata={
            "description": "messages added silently: the pass's 3 notifications a day were spent"
        },
    )
    noHolder = fields.Integer(
        dump_default=0,
        metadata={
            "description": "messages not sent: nobody holds the pass's object in Google Wallet "
            "(no save callback, or deleted since), so no call was made"
        },
    )
    classMessages = fields.Integer(
        dump_default=0,
        metadata={
            "description": "messages added once to a whole pass type's class instead of to "
            "each object (docs/campaigns.md)"
        },
    )
    classNotified = fields.Integer(
        dump_default=0, metadata={"description": "class messages added with a notification"}
    )
    classNotificationSuppressed = fields.Integer(
        dump_default=0,
        metadata={"description": "class messages added silently: the class's 3 a day were spent"},
    )
    classMessageFailed = fields.Integer(
        dump_default=0,
        metadata={"description": "class messages Google refused: the objects got them instead"},
    )
    requests = fields.Integer(
        dump_default=0, metadata={"description": "REST calls made, retries included"}
    )
    waitedMs = fields.Integer(
        dump_default=0,
        metadata={
            "description": "Time spent waiting for the issuer's shared rate limit and retry "
            "backoff: the pacing of Google calls."
        },
    )


class SuppressedCountersSchema(Schema):
    """Holders whose alert was held back, per pass, by reason (docs/notifications.md)."""

    consent = fields.Integer(
        dump_default=0,
        metadata={"description": "marketing message, consent not granted: delivered silently"},
    )
    budget = fields.Integer(
        dump_default=0,
        metadata={"description": "a wallet's alerts for the rolling 24 h were spent: silent"},
    )
    quietHours = fields.Integer(
        dump_default=0,
        metadata={"description": "inside quiet hours: the alert waits for the window's end"},
    )


class CountersSchema(Schema):
    total = fields.Integer(required=True)
    processed = fields.Integer(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    unchanged = fields.Integer(dump_default=0, metadata={"description": "rendered the same"})
    cancelled = fields.Integer(required=True)
    notReached = fields.Integer(
        metadata={
            "description": "Once the operation ended failed or cancelled: items no job got to "
            "(those a cancellation stopped included); succeeded + unchanged + failed + "
            "notReached = total."
        }
    )
    apple = fields.Nested(AppleCountersSchema, dump_default=dict)
    google = fields.Nested(GoogleCountersSchema, dump_default=dict)
    suppressed = fields.Nested(SuppressedCountersSchema, dump_default=dict)
    deferred = fields.Integer(
        dump_default=0,
        metadata={"description": "alerts still waiting for the end of quiet hours (see nextAt)"},
    )


class ItemErrorSchema(Schema):
    id = fields.String(required=True)
    reason = fields.String(required=True)


class OperationSchema(Schema):
    correlationId = fields.String(required=True, attribute="_id")
    tenantId = fields.String(required=True, attribute="tenant")
    kind = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={
            "enum": [
                "queued",
                "running",
                "completed",
                "completed_with_errors",
                "cancelling",
                "cancelled",
                "failed",
                "scheduled",
                "paused",
            ]
        },
    )
    counters = fields.Nested(CountersSchema, required=True)
    errors = fields.List(fields.Nested(ItemErrorSchema))
    failureReason = fields.String(allow_none=True)
    createdAt = fields.DateTime(required=True)
    updatedAt = fields.DateTime(required=True)
    startedAt = fields.DateTime(allow_none=True)
    finishedAt = fields.DateTime(allow_none=True)
    cancelRequestedAt = fields.DateTime(allow_none=True)
    nextAt = fields.DateTime(
        metadata={"description": "When the next alert held back by quiet hours goes out."}
    )
    throughput = fields.Float(
        allow_none=True,
        metadata={"description": "Items processed per second since startedAt (to finishedAt)."},
    )
    eta = fields.Float(
        allow_none=True,
        metadata={"description": "Seconds left at that rate; only while the job runs."},
    )
    # Campaigns that wait or are paced (docs/campaigns.md).
    scheduledAt = fields.DateTime(
        metadata={"description": "When a scheduled campaign starts (or was due to)."}
    )
    throughputLimit = fields.Integer(
        metadata={"description": "The campaign's cap, in passes per second (`throughput`)."}
    )
    pausedAt = fields.DateTime(allow_none=True)
    resumedAt = fields.DateTime(allow_none=True)
    preview = fields.Nested(
        CampaignPreviewSchema,
        metadata={"description": "Kind `preview`: the report (so far, while it runs)."},
    )


class OperationListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(
        validate=validate.OneOf(
            ["create", "update", "pushUpdate", PREVIEW, "email", IMPORT, *lifecycle.KINDS]
        ),
        metadata={"description": "Only operations of this kind."},
    )
    status = fields.String(
        validate=validate.OneOf(list(STATUSES)), metadata={"description": "Only this status."}
    )
    pageIndex = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))
    pageSize = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))
