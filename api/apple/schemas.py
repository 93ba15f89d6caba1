"""Bodies and answers of Apple's PassKit web service, as Wallet devices send and expect them."""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from shared.apple.delivery import PKPASS_MEDIA_TYPE

# A signed .pkpass (zip) in the OpenAPI document, with the headers it is served with.
PKPASS = PKPASS_MEDIA_TYPE
PKPASS_SCHEMA = {"type": "string", "format": "binary"}
_VALIDATOR_HEADERS: dict[str, dict[str, object]] = {
    "ETag": {
        "description": "The version's content hash, for If-None-Match.",
        "schema": {"type": "string"},
    },
    "Last-Modified": {
        "description": "When the pass last changed, for If-Modified-Since.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`private, no-cache`: personal data, revalidated every time.",
        "schema": {"type": "string"},
    },
}
PKPASS_HEADERS = {
    **_VALIDATOR_HEADERS,
    "Content-Disposition": {
        "description": 'attachment; filename="<passId>.pkpass"',
        "schema": {"type": "string"},
    },
}
NOT_MODIFIED_HEADERS = _VALIDATOR_HEADERS
RETRY_AFTER_HEADERS = {
    "Retry-After": {
        "description": "Seconds to wait before calling again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}

# `\Z`, not `$`: `$` also matches before a trailing newline.
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}\Z")
PUSH_TOKEN_PATTERN = re.compile(r"^[0-9a-fA-F]{16,200}\Z")
SERIAL_PATTERN = re.compile(r"^[\w-]{5,50}\Z")


class AppleRegisterSchema(Schema):
    class Meta:
        unknown = RAISE

    pushToken = fields.String(
        required=True,
        validate=validate.Regexp(
            PUSH_TOKEN_PATTERN, error="must be 16 to 200 hexadecimal characters"
        ),
        # The documented pattern in ECMA syntax (no `\Z`), as OpenAPI validators read it.
        metadata={
            "description": "The device's APNs token for this pass type (hex).",
            "pattern": "^[0-9a-fA-F]{16,200}$",
        },
    )


class AppleUpdatedSinceQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    passesUpdatedSince = fields.String(
        metadata={"description": "The lastUpdated tag of the device's previous request."},
    )


class AppleSerialNumbersSchema(Schema):
    serialNumbers = fields.List(fields.String(), required=True)
    lastUpdated = fields.String(
        required=True, metadata={"description": "Update tag to send as passesUpdatedSince."}
    )


class AppleLogSchema(Schema):
    class Meta:
        unknown = RAISE

    logs = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Messages the device reports about our web service."},
    )
