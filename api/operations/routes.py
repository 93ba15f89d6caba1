"""Following and cancelling a job by its correlationId."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from api.operations.schemas import OperationListQuerySchema, OperationSchema
from shared import operations
from shared.campaigns import BATCH_TASK, PLAN_TASK, PREVIEW, pausing
from shared.campaigns.preview import report_of
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


def _shown(document: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The operation as the API shows it: throughput and ETA, and a preview's report."""
    shown = {**document, **progress(document, now)}
    if document.get("kind") == PREVIEW:
        shown["preview"] = report_of(document)
    return shown


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
        body = [_shown(document, now) for document in documents]
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
        return _shown(document, utcnow())

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
        tenant_id, db = current_tenant().id, services.database()
        paused = pausing.cancel_paused(db, tenant_id, correlationId, **_senders())
        if paused is not None:
            return paused
        try:
            return operations.request_cancel(db, tenant_id, correlationId)
        except LookupError:
            raise ApiError(404, "Unknown operation.", errors=_UNKNOWN) from None
        except operations.OperationNotCancellable as exc:
            raise ApiError(
                409,
                f"The operation is already {exc.status} and cannot be cancelled.",
                errors=[{"field": "correlationId", "reason": f"operation is {exc.status}"}],
            ) from None


_NOT_PAUSABLE = {
    **_NOT_FOUND,
    400: "The Idempotency-Key is invalid.",
    409: "Not a campaign, or not in a status this applies to (pause: running; resume: "
    "paused); or a request with this Idempotency-Key is still being processed.",
    422: "This Idempotency-Key was used for another request.",
}


@blp.route("/<correlationId>/pause")
class PauseOperation(MethodView):
    @error_responses(*TENANT_API_ERRORS, *JSON_BODY_ERRORS, descriptions=_NOT_PAUSABLE)
    @requires_scope(OPERATION_CANCEL)
    @blp.response(202, OperationSchema)
    def post(self, tenantId: str, correlationId: str) -> Any:
        """Pause a running campaign: each batch stops before its next pass and keeps the rest
        for the resume (status `paused`); counters stay exact. A paused one answers as is."""
        with _pausing_errors():
            return pausing.request_pause(services.database(), current_tenant().id, correlationId)


@blp.route("/<correlationId>/resume")
class ResumeOperation(MethodView):
    @error_responses(*TENANT_API_ERRORS, *JSON_BODY_ERRORS, descriptions=_NOT_PAUSABLE)
    @requires_scope(OPERATION_CANCEL)
    @blp.response(202, OperationSchema)
    def post(self, tenantId: str, correlationId: str) -> Any:
        """Resume a paused campaign where it stood (status `running`). A running one answers
        as is."""
        with _pausing_errors():
            return pausing.request_resume(
                services.database(), current_tenant().id, correlationId, **_senders()
            )


@contextmanager
def _pausing_errors() -> Iterator[None]:
    try:
        yield
    except LookupError:
        raise ApiError(404, "Unknown operation.", errors=_UNKNOWN) from None
    except pausing.NotPausable as exc:
        raise ApiError(
            409,
            f"{exc.reason[0].upper()}{exc.reason[1:]}.",
            errors=[{"field": "correlationId", "reason": f"operation is {exc.status}"}],
        ) from None


def _senders() -> dict[str, Any]:
    """How a resumed (or cancelled) paused campaign's jobs are enqueued: by task name."""
    jobs = services.jobs()

    def send_plan(tenant_id: str, correlation_id: str) -> None:
        jobs.enqueue(PLAN_TASK, tenant_id=tenant_id, correlation_id=correlation_id)

    def send_batch(tenant_id: str, correlation_id: str, batch_id: str, ids: list[str]) -> None:
        jobs.enqueue(
            BATCH_TASK,
            tenant_id=tenant_id,
            correlation_id=correlation_id,
            batch_id=batch_id,
            pass_ids=ids,
        )

    return {"send_plan": send_plan, "send_batch": send_batch}
