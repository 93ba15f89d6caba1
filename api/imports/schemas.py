"""What the OpenAPI document says of imports: the CSV request body (two media types, so
declared by hand), the 202 answer and the results download."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from api.imports.upload import CSV, FILE_FIELD, MULTIPART

EXAMPLE = "id.crm;metadata.store;additionalData.points\r\nC-0001;42;120\r\nC-0002;7;'0042\r\n"

IMPORT_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "UTF-8 CSV (RFC 4180; a byte order mark is allowed), cells separated by "
    "`,` or `;` (taken from the header line), a header row first. Columns: `id` (the pass id) "
    "or `id.<system>.<key>` (external identifiers; all non-empty ones of a row must match), "
    "plus `metadata.<key>[.<key>]` and `additionalData.<key>[.<key>…]` (up to 5 keys). An "
    "empty cell leaves the key as it is, `null` removes it, a leading `'` makes the rest "
    "text as is; in `additionalData.*` a JSON number or `true`/`false` is that value, "
    "anything else is text. Blank rows are skipped; every other row has the header's width.",
    "content": {
        CSV: {"schema": {"type": "string"}, "example": EXAMPLE},
        MULTIPART: {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
            }
        },
    },
}


class ImportAcceptedSchema(Schema):
    correlationId = fields.String(required=True)
    rows = fields.Integer(
        required=True, metadata={"description": "Rows to import (the operation's total)."}
    )


RESULTS_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "`row,passId,status,error` then one line per row of the file, in order. "
    "`row` numbers rows as a spreadsheet does (the header is 1); `status` is succeeded, "
    "unchanged, failed (with the `error`), cancelled, or pending while the import runs. Cells "
    "that a spreadsheet would take for a formula start with `'`.",
}

RESULTS_HEADERS: dict[str, Any] = {
    "Content-Disposition": {
        "description": 'attachment; filename="import-<correlationId>-results.csv"',
        "required": True,
        "schema": {"type": "string"},
    }
}
