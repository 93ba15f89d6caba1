from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from api.fields import Identifiers, JsonObject


class CreatePassQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    passType = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Pass type (template) of the tenant to issue."},
    )


class CreatePassSchema(Schema):
    class Meta:
        unknown = RAISE

    identifiers = Identifiers(
        load_default=dict,
        metadata={"description": 'External identifiers per system, e.g. {"crm": "C-1233332"}.'},
    )
    metadata = JsonObject(
        max_depth=2,
        scalar_values_only=True,
        load_default=dict,
        metadata={"description": 'Segmentation values, e.g. {"store": "42"}.'},
    )
    additionalData = JsonObject(
        max_depth=5,
        load_default=dict,
        metadata={"description": "Display-only extras rendered on the pass."},
    )


class UpdatePassSchema(Schema):
    """A JSON Merge Patch (RFC 7396) of the pass's data: null removes a key, omitted stays."""

    class Meta:
        unknown = RAISE

    identifiers = Identifiers(for_patch=True)
    metadata = JsonObject(max_depth=2, scalar_values_only=True)
    additionalData = JsonObject(max_depth=5)


class PassQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    device = fields.String(
        validate=validate.OneOf(["apple"]),
        metadata={"description": "`apple`: the signed .pkpass instead of the JSON pass."},
    )


class AcceptedSchema(Schema):
    correlationId = fields.String(required=True)
    passId = fields.String(required=True)


class PassSchema(Schema):
    id = fields.String(required=True)
    passType = fields.String(required=True)
    identifiers = fields.Dict()
    metadata = fields.Dict()
    additionalData = fields.Dict()
    providers = fields.Dict()
    status = fields.String()
    creationDate = fields.DateTime()
    lastUpdateDate = fields.DateTime()
