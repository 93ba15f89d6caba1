"""The body of `PUT /api/{tenantId}/passes/{passId}/notification`: a campaign's message and
data patch (the push-update schemas themselves), without the segment: the path names it."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

from api.passes.schemas import UpdatePassSchema
from api.push_updates.schemas import MessageSchema


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
