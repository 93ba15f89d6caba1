"""Operations and passes for domain tests that run job functions directly (no worker)."""

from __future__ import annotations

from typing import Any

from shared import operations
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.lifecycle.refresh import refresh_intent
from shared.passes.creation import run_create
from shared.passes.google_versions import HOLDER_FIELD, SAVED
from shared.passes.jobs import JobContext
from shared.passes.updating import run_update


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


def created_pass(db: Any, context: JobContext, *, saved_in_google: bool = True, **data: Any) -> str:
    """A demo loyalty pass made by the create job (rendered for Apple); `data` sets
    identifiers, metadata or additionalData. With `saved_in_google`, someone saved it in
    Google Wallet (as a save callback records) and a refresh job sent its object to the fake
    Google; otherwise Google has never heard of it."""
    pass_id = new_pass_id()
    intent = {"passId": pass_id, "passType": "loyalty", "identifiers": {}, "metadata": {}}
    intent |= {"additionalData": {}, **data}
    created = queued_operation(db, "create", intent)
    assert run_create(context, created)["status"] == "completed"  # type: ignore[index]
    if saved_in_google:
        db.passes.update_one({"_id": pass_id}, {"$set": {HOLDER_FIELD: SAVED}})
        sent = run_update(context, queued_operation(db, "resend", refresh_intent(pass_id)))
        assert sent is not None and sent["counters"]["google"]["inserted"] == 1, sent
    return pass_id
