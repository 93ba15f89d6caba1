"""The `create` job: turn a persisted creation intent into a pass document."""

from __future__ import annotations

from typing import Any

from shared import operations
from shared.apple.issuing import AppleRenderFailed
from shared.infra.clock import utcnow
from shared.notifications import consent
from shared.passes.apple_versions import new_apple_version
from shared.passes.documents import new_pass_document
from shared.passes.google_versions import HOLDER_FIELD, GoogleRenderFailed, new_google_version
from shared.passes.jobs import ExternalDataFailed, JobContext, UnknownPassType
from shared.repositories import passes as passes_repo
from shared.webhooks.config import PASS_CREATED

CREATE_BATCH = "create"


def run_create(context: JobContext, correlation_id: str) -> dict[str, Any] | None:
    """Create the pass an operation asks for. Safe to run more than once for one operation."""
    db = context.db
    operation, active = context.begin(correlation_id, "create")
    if operation is None or not active:
        return operation
    intent = operation["intent"]
    pass_id = intent["passId"]
    existing = passes_repo.find_pass(db, operation["tenant"], pass_id)
    if existing is not None and existing.get("createdBy") == correlation_id:
        # An earlier delivery of this job inserted the pass and died before counting it.
        return _created(context, correlation_id, existing, who=intent.get("consentBy"))
    if operation["status"] == operations.CANCELLING:
        return context.finished(
            operations.record_results(db, correlation_id, CREATE_BATCH, cancelled=1)
        )

    now = utcnow()
    document = new_pass_document(
        pass_id=pass_id,
        tenant_id=operation["tenant"],
        pass_type=intent["passType"],
        identifiers=intent["identifiers"],
        metadata=intent["metadata"],
        additional_data=intent["additionalData"],
        correlation_id=correlation_id,
        now=now,
    )
    if intent.get("consent"):
        document[consent.FIELD] = intent["consent"]
    try:
        tenant, pass_type = context.pass_type(operation["tenant"], intent["passType"])
        # Rendered before the insert: a pass is stored complete, or not at all. External
        # data is rendered, then dropped: never part of the document.
        external = context.external_data(tenant, pass_type, document)
        document["apple"] = new_apple_version(
            context, tenant, pass_type, document, now=now, external=external
        )
        document["google"] = new_google_version(pass_type, document, now=now, external=external)
        # No call to Google at create: the object is owed until a holder's first Save link
        # click sends it (api/google/save.py); nobody holds it yet.
        document["googlePending"] = document["google"] is not None  # cleared once Google has it
        document[HOLDER_FIELD] = None
    except (AppleRenderFailed, GoogleRenderFailed, UnknownPassType, ExternalDataFailed) as exc:
        return _failed(context, correlation_id, pass_id, str(exc))
    if passes_repo.insert_pass(db, document):
        return _created(context, correlation_id, document, who=intent.get("consentBy"))
    return _failed(context, correlation_id, pass_id, "a pass with this id already exists")


def _created(
    context: JobContext, correlation_id: str, document: dict[str, Any], *, who: str | None
) -> dict[str, Any] | None:
    if document.get(consent.FIELD):
        # Audited once per create job (the key), also when its delivery is repeated.
        consent.audit(
            context.db,
            tenant_id=document["tenant"],
            pass_id=document["_id"],
            stored=document[consent.FIELD],
            who=who or "unknown",
            via=consent.VIA_CREATE,
            now=document["createdAt"],
            key=correlation_id,
        )
    data = {"passId": document["_id"], "passType": document["passType"]}
    context.emit(document["tenant"], PASS_CREATED, data, correlation_id=correlation_id)
    return context.finished(
        operations.record_results(context.db, correlation_id, CREATE_BATCH, succeeded=1)
    )


def _failed(
    context: JobContext, correlation_id: str, pass_id: str, reason: str
) -> dict[str, Any] | None:
    return context.item_failed(correlation_id, CREATE_BATCH, pass_id, reason)
