"""Operations and passes for domain tests that run job functions directly (no worker)."""

from __future__ import annotations

from typing import Any

from shared import operations
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.passes.creation import run_create
from shared.passes.jobs import JobContext


def queued_operation(db: Any, kind: str, intent: dict[str, Any]) -> str:
    """A queued demo operation of `kind` for one item; its correlation id."""
    correlation_id = new_correlation_id()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id, tenant_id="demo", kind=kind, total=1, intent=intent
        ),
    )
    return correlation_id


def created_pass(db: Any, context: JobContext, **data: Any) -> str:
    """A demo loyalty pass made by the create job (rendered for Apple, sent to the fake
    Google); `data` sets identifiers, metadata or additionalData."""
    pass_id = new_pass_id()
    intent = {"passId": pass_id, "passType": "loyalty", "identifiers": {}, "metadata": {}}
    intent |= {"additionalData": {}, **data}
    created = queued_operation(db, "create", intent)
    assert run_create(context, created)["status"] == "completed"  # type: ignore[index]
    return pass_id
