"""Schemas of the pass type API (`/api/{tenantId}/passtypes`)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from shared.passtypes.archive import MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES, MAX_UPLOAD_BYTES

ZIP = "application/zip"
MULTIPART = "multipart/form-data"
FILE_FIELD = "file"

FOLDER_ZIP_BODY: dict[str, Any] = {
    "required": True,
    "description": "The pass type folder as on disk (`passtype.toml`, `apple/pass.json`, its "
    "PNG images and `<lang>.lproj/pass.strings`, `google/class.json` and `object.json`), "
    "zipped, with or without one enclosing folder; as the body or as the `file` part of a "
    f"form. Limits: {MAX_UPLOAD_BYTES} bytes zipped, {MAX_TOTAL_BYTES} bytes unpacked, "
    f"{MAX_FILE_BYTES} bytes per file, {MAX_FILES} entries.",
    "content": {
        ZIP: {"schema": {"type": "string", "format": "binary"}},
        MULTIPART: {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
            }
        },
    },
}

FOLDER_ZIP_RESPONSE: dict[str, Any] = {"type": "string", "format": "binary"}

VERSION_HEADERS: dict[str, Any] = {
    "X-Passwire-Version": {
        "description": "The number of the version in the zip.",
        "required": True,
        "schema": {"type": "integer"},
    }
}


class PassTypeSummarySchema(Schema):
    name = fields.String(required=True)
    activeVersion = fields.Integer(required=True)
    latestVersion = fields.Integer(required=True)
    source = fields.String(
        required=True,
        metadata={
            "description": "`files`: only the folder under config/tenants/ (version 1); "
            "`stored`: versions uploaded through this API (the folder is version 1)."
        },
    )


class PassTypeListSchema(Schema):
    passTypes = fields.List(fields.Nested(PassTypeSummarySchema), required=True)


class FileSchema(Schema):
    path = fields.String(required=True)
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)


class VersionSchema(Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    active = fields.Boolean(required=True)
    createdAt = fields.DateTime(required=True)
    source = fields.String(required=True)
    files = fields.List(fields.Nested(FileSchema), required=True)


class VersionListSchema(Schema):
    versions = fields.List(fields.Nested(VersionSchema), required=True)


class ActivateSchema(Schema):
    class Meta:
        unknown = RAISE

    rerender = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Also re-render every pass of the type with this version: a "
            "campaign (operation kind `pushUpdate`) that pushes each pass whose rendering "
            "changed, once."
        },
    )


class ActivatedSchema(Schema):
    name = fields.String(required=True)
    activeVersion = fields.Integer(required=True)
    correlationId = fields.String(
        metadata={"description": "The re-render campaign, when `rerender` was asked for."}
    )


class _SampleDataSchema(Schema):
    class Meta:
        unknown = RAISE

    identifiers = fields.Dict(keys=fields.String(), values=fields.Raw())
    metadata = fields.Dict(keys=fields.String(), values=fields.Raw())
    additionalData = fields.Dict(keys=fields.String(), values=fields.Raw())
    external = fields.Dict(keys=fields.String(), values=fields.Raw())


class PassTypePreviewRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    version = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "The version to render (default: the active one)."},
    )
    passId = fields.String(
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Render this pass's data (overridden by `data`)."},
    )
    data = fields.Nested(
        _SampleDataSchema,
        load_default=dict,
        metadata={"description": "Values per group; the declared samples fill the rest."},
    )


class PassTypePreviewSchema(Schema):
    version = fields.Integer(required=True)
    applePassJson = fields.Dict(allow_none=True, required=True)
    pkpass = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The signed sample .pkpass, base64."},
    )
    googleClass = fields.Dict(allow_none=True, required=True)
    googleObject = fields.Dict(allow_none=True, required=True)
