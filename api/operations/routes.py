"""Following and cancelling a job by its correlationId."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import TENANT_API_ERRORS, ApiError, error_responses
from api.operations.schemas import OperationListQuerySchema, OperationSchema
from shared import operations
from shared.campaigns.statistics import progress
from shared.credentials.scopes import OPERATION_CANCEL, OPERATION_READ
from shared.infra.clock import utcnow
from shared.repositories import operations as operations_repo

blp = Blueprint(
    "operations",
    __name__,
    url_prefix="/api/<tenantId>/operations",
    description="Operations (jobs followed by correlationId)",
)
protect(blp)

_UNKNOWN = [{"field": "correlationId", "reason": "no such operation"}]
_NOT_FOUND = {404: "Unknown tenant or operation."}


_PAGE_HEADERS = {
    "x-pagination-total": {
        "description": "Operations matching the filters.",
        "schema": {"type": "integer"},
        "required": True,
    }
}


@blp.route("")
class Operations(MethodView):
    @error_responses(*TENANT_API_ERRORS, 422, descriptions={404: "Unknown tenant."})
    @requires_scope(OPERATION_READ)
    @blp.arguments(OperationListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, OperationSchema(many=True), headers=_PAGE_HEADERS)
    def get(self, query: dict[str, Any], tenantId: str) -> Any:
        """Recent operations, newest first, by kind and status; total in x-pagination-total."""
        documents, total = operations_repo.list_operations(
            services.database(),
            current_tenant().id,
            kind=query.get("kind"),
            status=query.get("status"),
            skip=query["pageIndex"] * query["pageSize"],
            limit=query["pageSize"],
        )
        now = utcnow()
        body = [{**document, **progress(document, now)} for document in documents]
        return body, {"x-pagination-total": str(total)}


@blp.route("/<correlationId>")
class Operation(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions=_NOT_FOUND)
    @requires_scope(OPERATION_READ)
    @blp.response(200, OperationSchema)
    def get(self, tenantId: str, correlationId: str) -> Any:
        """Status, counters and timestamps of a job; throughput and ETA once it started."""
        document = operations_repo.find_operation(
            services.database(), current_tenant().id, correlationId
        )
        if document is None:
            raise ApiError(404, "Unknown operation.", errors=_UNKNOWN)
        return {**document, **progress(document, utcnow())}

    @error_responses(
        *TENANT_API_ERRORS,
        409,
        descriptions={**_NOT_FOUND, 409: "The operation already ended: nothing to cancel."},
    )
    @requires_scope(OPERATION_CANCEL)
    @blp.response(202, OperationSchema)
    def delete(self, tenantId: str, correlationId: str) -> Any:
        """Ask for cancellation: a queued job is cancelled at once, a running one stops between
        items. 409 when the job already ended."""
        try:
            return operations.request_cancel(
                services.database(), current_tenant().id, correlationId
            )
        except LookupError:
            raise ApiError(404, "Unknown operation.", errors=_UNKNOWN) from None
        except operations.OperationNotCancellable as exc:
            raise ApiError(
                409,
                f"The operation is already {exc.status} and cannot be cancelled.",
                errors=[{"field": "correlationId", "reason": f"operation is {exc.status}"}],
            ) from None
