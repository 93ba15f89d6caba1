"""The body of `PUT /api/{tenantId}/passes/{passId}/notification`: a campaign's message and
data patch (the push-update schemas themselves), without the segment: the path names it."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

from api.passes.schemas import MarketingConsentSchema, UpdatePassSchema
from api.push_updates.schemas import QUIET_HOURS_DOC, MessageSchema, QuietHoursField


class PassNotificationSchema(Schema):
    class Meta:
        unknown = RAISE

    message = fields.Nested(
        MessageSchema,
        required=True,
        metadata={
            "description": "A lock-screen notification on the pass's iPhones (kept on the "
            "back of the pass with the few before it) and a message on its Google Wallet "
            "object, which notifies the holder at most 3 times a day per pass."
        },
    )
    data = fields.Nested(
        UpdatePassSchema,
        load_default=dict,
        metadata={"description": "JSON Merge Patch of identifiers/metadata/additionalData."},
    )
    quietHours = QuietHoursField(allow_none=True, metadata=QUIET_HOURS_DOC)


class ConsentChangeSchema(Schema):
    marketing = fields.Nested(MarketingConsentSchema, required=True)
    who = fields.String(required=True, metadata={"description": "The credential that changed it."})
    via = fields.String(
        required=True,
        metadata={"description": "`create`, `patch`, `consent` (this endpoint) or `import`."},
    )
    recordedAt = fields.DateTime(required=True)


class ConsentViewSchema(Schema):
    passId = fields.String(required=True)
    consent = fields.Dict(
        required=True,
        metadata={"description": "`{marketing: {granted, at, source}}`, `{}` never given."},
    )
    history = fields.List(
        fields.Nested(ConsentChangeSchema), metadata={"description": "Every change, oldest first."}
    )
