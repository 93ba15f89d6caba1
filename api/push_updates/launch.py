"""Starting a campaign from a request: the one path by which a merge patch and a message reach
passes, whether a segment (`POST …/push-updates`) or one pass (`PUT …/notification`) asked."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from flask import Response, jsonify, url_for

from api import services
from api.errors import ApiError
from shared import operations
from shared.campaigns import PLAN_TASK, PREVIEW, PUSH_UPDATE, pacing
from shared.campaigns.preview import preview
from shared.campaigns.segments import Segment, segment_query, to_intent
from shared.infra.ids import new_correlation_id
from shared.infra.logs import correlation_context
from shared.jobs import EnqueueError
from shared.passes.jobs import JobContext
from shared.repositories import campaigns as campaigns_repo

log = logging.getLogger(__name__)

# A preview of at most this many passes answers at once; a larger one is a `preview` job.
PREVIEW_AT_ONCE = 200


def start_campaign(
    tenant_id: str,
    segment: Segment,
    *,
    patch: Mapping[str, Any],
    message: Mapping[str, Any] | None,
    scheduled_at: datetime | None = None,
    throughput: int | None = None,
    quiet_hours: Mapping[str, Any] | Literal[False] | None = False,
) -> str:
    """Write the campaign's operation (the planning job counts the segment), enqueue its
    planning job; the correlationId. 503 when the queue is down (the operation is failed).
    Scheduled, it is only written: the beat job starts it (shared/campaigns/scheduling.py)."""
    correlation_id = new_correlation_id()
    document = operations.new_operation(
        correlation_id=correlation_id,
        tenant_id=tenant_id,
        kind=PUSH_UPDATE,
        total=0,
        intent={"segment": to_intent(segment), "patch": dict(patch)},
    )
    if message is not None:
        # Kept after the job ends (the intent is dropped then): what was asked is on record.
        document["message"] = dict(message)
    if quiet_hours is not False:  # the campaign's own quiet hours (None: none at all)
        document["quietHours"] = None if quiet_hours is None else dict(quiet_hours)
    if throughput is not None:
        document[pacing.FIELD] = throughput
    if scheduled_at is not None:
        document.update(status=operations.SCHEDULED, scheduledAt=scheduled_at)
        operations.create(services.database(), document)
        return correlation_id
    _create_and_enqueue(tenant_id, document, PLAN_TASK)
    return correlation_id


def _create_and_enqueue(tenant_id: str, document: dict[str, Any], task: str) -> None:
    db, correlation_id = services.database(), str(document["_id"])
    with correlation_context(correlation_id):
        operations.create(db, document)
        try:
            services.jobs().enqueue(task, tenant_id=tenant_id, correlation_id=correlation_id)
        except EnqueueError as exc:
            log.error("%s (operation %s)", exc, correlation_id)
            operations.fail(db, correlation_id, "the job queue is unavailable")
            raise ApiError(503, "The job queue is unavailable; nothing was queued.") from exc


def preview_campaign(
    tenant_id: str,
    segment: Segment,
    *,
    patch: Mapping[str, Any],
    message: Mapping[str, Any] | None,
    quiet_hours: Mapping[str, Any] | Literal[False] | None = False,
) -> tuple[Response, int] | tuple[dict[str, str], int, dict[str, str]]:
    """A dry run: 200 with the report for a small segment, else 202 and a `preview` job."""
    db = services.database()
    correlation_id = new_correlation_id()
    intent = {"segment": to_intent(segment), "patch": dict(patch)}
    campaign: dict[str, Any] = {"_id": correlation_id, "tenant": tenant_id, "intent": intent}
    if message is not None:
        campaign["message"] = dict(message)
    if quiet_hours is not False:  # decided as the campaign would decide
        campaign["quietHours"] = None if quiet_hours is None else dict(quiet_hours)
    matched = campaigns_repo.count_segment(db, segment_query(tenant_id, segment))
    if matched <= PREVIEW_AT_ONCE:
        context = JobContext(db=db, tenants=services.tenants(), settings=services.settings())
        report = preview(context, campaign, segment)
        return jsonify({"dryRun": True, "preview": report.as_document()}), 200
    document = operations.new_operation(
        correlation_id=correlation_id,
        tenant_id=tenant_id,
        kind=PREVIEW,
        total=matched,
        intent=intent,
    )
    document.update({k: campaign[k] for k in ("message", "quietHours") if k in campaign})
    _create_and_enqueue(tenant_id, document, PLAN_TASK)  # walked as a campaign is
    accepted = {"correlationId": correlation_id, "status": operations.QUEUED}
    return accepted, 202, operation_location(tenant_id, correlation_id)


def operation_location(tenant_id: str, correlation_id: str) -> dict[str, str]:
    """The `Location` header of a 202: where to follow the job."""
    return {
        "Location": url_for(
            "operations.Operation", tenantId=tenant_id, correlationId=correlation_id
        )
    }
