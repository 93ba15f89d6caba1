"""The `create` job: turn a persisted creation intent into a pass document."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.database import Database

from shared import operations
from shared.clock import utcnow
from shared.passes.documents import new_pass_document
from shared.repositories import passes as passes_repo

log = logging.getLogger(__name__)

CREATE_BATCH = "create"


def run_create(db: Database[Any], correlation_id: str) -> dict[str, Any] | None:
    """Create the pass an operation asks for. Safe to run more than once for one operation."""
    operation = operations.start(db, correlation_id)
    if operation is None:
        log.warning("create job for unknown operation %s ignored", correlation_id)
        return None
    if operation["status"] in operations.FINAL_STATUSES:
        return operation
    intent = operation["intent"]
    pass_id = intent["passId"]
    if operation["status"] == operations.CANCELLING:
        # A delivery that crashed after inserting already did the work: count it as done.
        done = _created_by(db, operation, pass_id)
        return operations.record_results(
            db, correlation_id, CREATE_BATCH, succeeded=int(done), cancelled=int(not done)
        )

    document = new_pass_document(
        pass_id=pass_id,
        tenant_id=operation["tenant"],
        pass_type=intent["passType"],
        identifiers=intent["identifiers"],
        metadata=intent["metadata"],
        additional_data=intent["additionalData"],
        correlation_id=correlation_id,
        now=utcnow(),
    )
    if passes_repo.insert_pass(db, document) or _created_by(db, operation, pass_id):
        return operations.record_results(db, correlation_id, CREATE_BATCH, succeeded=1)
    error = operations.ItemError(pass_id, "a pass with this id already exists")
    return operations.record_results(db, correlation_id, CREATE_BATCH, failed=1, errors=(error,))


def _created_by(db: Database[Any], operation: dict[str, Any], pass_id: str) -> bool:
    """True when an earlier delivery of this same job already inserted the pass."""
    existing = passes_repo.find_pass(db, operation["tenant"], pass_id)
    return existing is not None and existing.get("createdBy") == operation["_id"]
