from __future__ import annotations

from marshmallow import Schema, fields

from api.passes.schemas import PassSchema


class PassDataSchema(PassSchema):
    external = fields.Dict(
        metadata={
            "description": "External data fetched now from the tenant's providers for this "
            "pass (every mapped field, flat: `external.<name>` in templates); never stored."
        }
    )
    externalErrors = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Provider id → why it gave no data (e.g. customer not found)."},
    )
    externalSkipped = fields.List(
        fields.String(),
        metadata={"description": "Providers not called: the pass lacks their identifier."},
    )


class RawPassSchema(Schema):
    document = fields.Dict(
        metadata={"description": "The stored MongoDB document, without the fields below."}
    )
    omitted = fields.List(
        fields.String(),
        metadata={
            "description": "Fields withheld: the authentication token and the signed Apple "
            "package bytes (apple.passJson, apple.manifest, apple.signature)."
        },
    )
