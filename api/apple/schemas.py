"""Bodies and answers of Apple's PassKit web service, as Wallet devices send and expect them."""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

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
        metadata={"description": "The device's APNs token for this pass type (hex)."},
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
