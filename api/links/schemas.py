"""What a links request takes and what it answers."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.attribution import GROUPINGS, MAX_TAGS, MEDIUM_PATTERN, TAG_PATTERN

MAX_DAYS = 365
DEFAULT_DAYS = 30


class JsonInteger(fields.Integer):
    """A JSON integer: no string, no boolean, no fraction."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be an integer")
        return value


class LinksRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    medium = fields.String(
        validate=validate.Regexp(MEDIUM_PATTERN.pattern + r"\Z"),
        metadata={
            "description": "Where the links are published (email, sms, qr…): 1 to 32 of a-z, "
            "0-9, '_' or '-'. Recorded with each click and credited to the install.",
            "pattern": "^" + MEDIUM_PATTERN.pattern + "$",
        },
    )
    tags = fields.List(
        fields.String(
            validate=validate.Regexp(TAG_PATTERN.pattern + r"\Z"),
            metadata={"pattern": "^" + TAG_PATTERN.pattern + "$"},
        ),
        validate=validate.Length(max=MAX_TAGS),
        metadata={
            "description": f'Campaign tags (at most {MAX_TAGS}), e.g. ["march-email"]: recorded '
            "with each click and credited to the install."
        },
    )
    expiresInDays = JsonInteger(
        load_default=DEFAULT_DAYS,
        validate=validate.Range(min=1, max=MAX_DAYS),
        metadata={"description": f"Days the links open the pass (1 to {MAX_DAYS}, default 30)."},
    )


class LinksSchema(Schema):
    url = fields.String(required=True, metadata={"description": "The pass's signed download page."})
    apple = fields.String(
        required=True,
        metadata={"description": "Direct download of the .pkpass (several: a .pkpasses bundle)."},
    )
    google = fields.String(
        required=True,
        metadata={"description": "Direct Save to Google Wallet (a redirect through passwire)."},
    )
    expiresAt = fields.DateTime(required=True, metadata={"description": "When the links expire."})


class InstallsQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    by = fields.String(
        required=True,
        validate=validate.OneOf(GROUPINGS),
        metadata={"description": "`medium` or `tag` (an install with two tags counts under each)."},
    )
    from_ = fields.AwareDateTime(
        data_key="from", metadata={"description": "Installs at or after (ISO 8601 with offset)."}
    )
    to = fields.AwareDateTime(metadata={"description": "Installs before (ISO 8601 with offset)."})


class InstallRowSchema(Schema):
    key = fields.String(
        required=True, allow_none=True, metadata={"description": "The medium or tag (null: none)."}
    )
    apple = fields.Integer(required=True)
    google = fields.Integer(required=True)
    total = fields.Integer(required=True)


class InstallsSchema(Schema):
    by = fields.String(required=True)
    windowHours = fields.Integer(
        required=True, metadata={"description": "Attribution window: click to install, in hours."}
    )
    installs = fields.List(fields.Nested(InstallRowSchema), required=True)
