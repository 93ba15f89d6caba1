from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from shared.webhooks.status import STATUSES


class CountsSchema(Schema):
    pending = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class LastFailureSchema(Schema):
    at = fields.DateTime(required=True)
    status = fields.Integer(
        allow_none=True, metadata={"description": "HTTP status; null when none came back"}
    )
    error = fields.String(required=True)
    deliveryId = fields.String(required=True)
    eventId = fields.String(required=True)
    type = fields.String(required=True)


class EndpointStatusSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(allow_none=True)
    events = fields.List(fields.String(), required=True)
    configured = fields.Boolean(
        required=True, metadata={"description": "false: removed from the configuration"}
    )
    counts = fields.Nested(CountsSchema, required=True)
    lastFailure = fields.Nested(LastFailureSchema, allow_none=True)


class WebhooksSchema(Schema):
    endpoints = fields.List(fields.Nested(EndpointStatusSchema), required=True)


class DeliveriesQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(validate=validate.OneOf(STATUSES))
    endpoint = fields.String(validate=validate.Length(min=1, max=63))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    pageSize = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class AttemptSchema(Schema):
    attempt = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    status = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    durationMs = fields.Integer(required=True)


class DeliverySchema(Schema):
    deliveryId = fields.String(required=True, attribute="_id")
    eventId = fields.String(required=True)
    type = fields.String(required=True)
    endpoint = fields.Function(lambda document: document["endpoint"]["id"], required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    attempts = fields.Integer(required=True)
    correlationId = fields.String(allow_none=True)
    createdAt = fields.DateTime(required=True)
    lastAttemptAt = fields.DateTime(allow_none=True)
    nextAttemptAt = fields.DateTime(
        allow_none=True, metadata={"description": "when pending: the next attempt's time"}
    )
    finishedAt = fields.DateTime(allow_none=True)
    lastStatus = fields.Integer(allow_none=True)
    lastError = fields.String(allow_none=True)
    history = fields.List(fields.Nested(AttemptSchema))


class DeliveriesSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)
    page = fields.Integer(required=True)
    pageSize = fields.Integer(required=True)
    total = fields.Integer(required=True)
