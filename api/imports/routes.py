"""Flat-file imports: upload a CSV of pass updates, download each row's result."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, stream_with_context, url_for
from flask.views import MethodView

from api import idempotency, services
from api.auth import authenticate_tenant, current_tenant, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from api.imports.accept import accept_import
from api.imports.schemas import (
    IMPORT_REQUEST_BODY,
    RESULTS_HEADERS,
    RESULTS_SCHEMA,
    ImportAcceptedSchema,
)
from api.imports.upload import CSV, allow_import_bodies, uploaded_file
from api.passes.schemas import ACCEPTED_HEADERS
from shared.credentials.scopes import IMPORT_WRITE
from shared.imports import IMPORT
from shared.imports.csv_file import read_import_file
from shared.imports.problems import ImportRejected
from shared.imports.results import results_csv
from shared.infra.ids import new_correlation_id
from shared.infra.logs import correlation_context
from shared.repositories import imports as imports_repo
from shared.repositories import operations as operations_repo

log = logging.getLogger(__name__)

blp = Blueprint(
    "imports",
    __name__,
    url_prefix="/api/<tenantId>/imports",
    description="Flat-file imports: update passes from a CSV, one row per pass",
)
# The tenant API's hooks (api.auth.protect), with a CSV body of its own size instead of JSON.
blp.before_request(authenticate_tenant)
blp.before_request(allow_import_bodies)
blp.after_request(idempotency.after_request)


@blp.route("")
class Imports(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            400: "The file is not UTF-8 or not valid CSV (an unclosed quote, text after a "
            "closing quote), or the Idempotency-Key is invalid; `errors` names the row.",
            413: "The file is larger than PASSWIRE_MAX_IMPORT_BYTES (8 MiB by default).",
            415: "The body is neither text/csv (charset utf-8) nor multipart/form-data.",
            422: "The file cannot be imported: empty, no header, an unknown, repeated or "
            "nested column, no id column or both kinds, no column to update, a row of another "
            "width than the header, more rows than PASSWIRE_MAX_IMPORT_ROWS (100,000 by "
            "default); or the Idempotency-Key was used for another request. `errors` names "
            "each row and column at fault.",
        },
    )
    @requires_scope(IMPORT_WRITE)
    @blp.doc(requestBody=IMPORT_REQUEST_BODY)
    @blp.response(202, ImportAcceptedSchema, headers=ACCEPTED_HEADERS)
    def post(self, tenantId: str) -> Any:
        """Update passes from a CSV file, one row per pass: the row names its pass (`id`, or
        `id.<system>.<key>` columns) and its `metadata.*` / `additionalData.*` cells are merged
        into it as `PATCH /passes/{passId}` merges a patch; the pass is re-rendered and its
        devices pushed when it changed.

        The whole file is read first: a malformed one is refused and nothing is stored. A row
        that cannot be applied (no such pass, several match, values that do not render) fails
        alone. Follow the job at the Location (operation kind `import`); each row's result is
        at `…/imports/{correlationId}/results.csv`."""
        settings = services.settings()
        try:
            upload = read_import_file(uploaded_file(), max_rows=settings.max_import_rows)
        except ImportRejected as exc:
            errors = [{"field": p.field, "reason": p.reason} for p in exc.problems]
            raise ApiError(exc.status, exc.message, errors=errors) from None
        tenant_id = current_tenant().id
        correlation_id = new_correlation_id()
        with correlation_context(correlation_id):
            accept_import(tenant_id, correlation_id, upload)
            log.info("import accepted: %d rows", len(upload.rows))
        location = url_for("operations.Operation", tenantId=tenant_id, correlationId=correlation_id)
        body = {"correlationId": correlation_id, "rows": len(upload.rows)}
        return body, 202, {"Location": location}


@blp.route("/<correlationId>/results.csv")
class ImportResults(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        descriptions={
            404: "Unknown tenant or import (another kind of operation is not an import), "
            "or its results are no longer kept (30 days)."
        },
    )
    @requires_scope(IMPORT_WRITE)
    @blp.alt_response(
        200,
        schema=RESULTS_SCHEMA,
        content_type=CSV,
        headers=RESULTS_HEADERS,
        description="Each row's result, in file order.",
        success=True,
    )
    def get(self, tenantId: str, correlationId: str) -> Any:
        """Each row's result as CSV: `row,passId,status,error`. Rows not processed yet are
        `pending`; the download is complete once the operation has ended."""
        db, tenant_id = services.database(), current_tenant().id
        operation = operations_repo.find_operation(db, tenant_id, correlationId)
        if operation is None or operation["kind"] != IMPORT:
            raise ApiError(
                404,
                "Unknown import.",
                errors=[{"field": "correlationId", "reason": "no such import"}],
            )
        batches = imports_repo.results_of(db, tenant_id, correlationId)
        first = next(batches, None)
        if first is None:
            raise ApiError(
                404,
                "This import has no results: it never ran, or they are over 30 days old.",
                errors=[{"field": "correlationId", "reason": "no results kept"}],
            )

        def lines() -> Any:
            yield from results_csv(_chain(first, batches), operation["status"])

        response = Response(stream_with_context(lines()), mimetype=CSV)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="import-{correlationId}-results.csv"'
        )
        return response


def _chain(first: dict[str, Any], rest: Any) -> Any:
    yield first
    yield from rest
