"""The uploaded file of `POST /api/{tenantId}/imports`: the body itself (`text/csv`) or the
`file` part of a `multipart/form-data` form, up to PASSWIRE_MAX_IMPORT_BYTES.

The app-wide limit (PASSWIRE_MAX_REQUEST_BYTES) is raised for this request before anything
reads the body (an Idempotency-Key reads it to fingerprint the request): Flask ≥ 3.1 lets a
request carry its own `max_content_length`.
"""

from __future__ import annotations

from typing import Final

from flask import request

from api import services
from api.errors import ApiError

CSV: Final = "text/csv"
MULTIPART: Final = "multipart/form-data"
FILE_FIELD: Final = "file"
CHARSET: Final = "utf-8"
UNNAMED: Final = "(a part without a name)"


def allow_import_bodies() -> None:
    """`before_request` hook of the imports blueprint."""
    if request.method == "POST":
        request.max_content_length = services.settings().max_import_bytes


def _unsupported(reason: str) -> ApiError:
    return ApiError(
        415,
        "Send the file as text/csv, or as the `file` part of multipart/form-data.",
        errors=[{"field": "Content-Type", "reason": reason}],
    )


def uploaded_file() -> bytes:
    """The file's bytes; 415 for another media type, 422 for a form without its `file`."""
    if request.mimetype == CSV:
        charset = request.mimetype_params.get("charset", CHARSET).lower()
        if charset != CHARSET:
            raise _unsupported(f"charset must be {CHARSET}, not {charset}")
        return request.get_data(cache=True)
    if request.mimetype != MULTIPART:
        raise _unsupported(f"must be {CSV} or {MULTIPART}")
    # A part without a name is named None by the form parser: still an unknown field.
    names = {*request.form.keys(), *request.files.keys()} - {FILE_FIELD}
    other = sorted(UNNAMED if name is None else name for name in names)
    if other:
        reason = f"unknown form field; send only `{FILE_FIELD}`"
        raise ApiError(422, "The form is invalid.", errors=[{"field": other[0], "reason": reason}])
    parts = request.files.getlist(FILE_FIELD)
    if len(parts) != 1:
        reason = (
            "send the CSV as one file part (with a filename)"
            if parts or (FILE_FIELD in request.form)
            else "missing"
        )
        raise ApiError(
            422, "The form is invalid.", errors=[{"field": FILE_FIELD, "reason": reason}]
        )
    data: bytes = parts[0].read()
    return data
