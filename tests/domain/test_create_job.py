"""The create job against the real MongoDB (wire server or MONGODB_URI), without a worker:
exact counters when Celery delivers a job twice, and clear failures."""

from __future__ import annotations

from typing import Any

import pytest

from dev.fake_google import FakeGoogleControl
from shared import operations
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.passes import updating
from shared.passes.creation import run_create
from shared.passes.jobs import JobContext
from shared.passes.updating import run_update
from tests.support.google_tenants import DEMO_ISSUER_ID
from tests.support.jobs import created_pass, queued_operation


def _queued_create(db: Any, pass_id: str | None = None) -> tuple[str, str]:
    correlation_id, pass_id = new_correlation_id(), pass_id or new_pass_id()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id="demo",
            kind="create",
            total=1,
            intent={
                "passId": pass_id,
                "passType": "loyalty",
                "identifiers": {"crm": "C-1"},
                "metadata": {},
                "additionalData": {},
            },
        ),
    )
    return correlation_id, pass_id


def test_a_redelivered_job_is_counted_once(db: Any, job_context: JobContext) -> None:
    correlation_id, pass_id = _queued_create(db)
    first = run_create(job_context, correlation_id)
    second = run_create(job_context, correlation_id)
    assert first is not None and second is not None
    assert second["status"] == "completed"
    assert second["counters"]["succeeded"] == 1
    assert second["counters"]["processed"] == 1
    assert db.passes.count_documents({"_id": pass_id}) == 1


def test_a_redelivery_after_a_crash_between_insert_and_count_still_counts(
    db: Any, job_context: JobContext
) -> None:
    correlation_id, pass_id = _queued_create(db)
    run_create(job_context, correlation_id)
    # Simulate a worker that died after inserting the pass but before counting it.
    db.operations.update_one(
        {"_id": correlation_id},
        {
            "$set": {
                "status": "running",
                "counters.processed": 0,
                "counters.succeeded": 0,
                "recordedBatches": [],
                "intent": {
                    "passId": pass_id,
                    "passType": "loyalty",
                    "identifiers": {},
                    "metadata": {},
                    "additionalData": {},
                },
            },
        },
    )
    operation = run_create(job_context, correlation_id)
    assert operation is not None
    assert operation["status"] == "completed"
    assert operation["counters"]["succeeded"] == 1


def test_an_id_taken_by_another_operation_fails_with_the_reason(
    db: Any, job_context: JobContext
) -> None:
    first_id, pass_id = _queued_create(db)
    run_create(job_context, first_id)
    second_id, _ = _queued_create(db, pass_id=pass_id)
    operation = run_create(job_context, second_id)
    assert operation is not None
    assert operation["status"] == "failed"
    assert operation["counters"]["failed"] == 1
    assert operation["errors"] == [{"id": pass_id, "reason": "a pass with this id already exists"}]


def test_a_cancelled_operation_creates_nothing(db: Any, job_context: JobContext) -> None:
    correlation_id, pass_id = _queued_create(db)
    operations.request_cancel(db, "demo", correlation_id)
    operation = run_create(job_context, correlation_id)
    assert operation is not None
    assert operation["status"] == "cancelled"
    assert db.passes.count_documents({"_id": pass_id}) == 0


def test_cancel_while_running_ends_cancelled(db: Any, job_context: JobContext) -> None:
    correlation_id, pass_id = _queued_create(db)
    operations.start(db, correlation_id)
    cancelling = operations.request_cancel(db, "demo", correlation_id)
    assert cancelling["status"] == "cancelling"
    operation = run_create(job_context, correlation_id)
    assert operation is not None
    assert operation["status"] == "cancelled"
    assert operation["counters"]["cancelled"] == 1
    assert db.passes.count_documents({"_id": pass_id}) == 0


def test_a_cancel_after_the_pass_was_inserted_reports_it_created(
    db: Any, job_context: JobContext
) -> None:
    correlation_id, pass_id = _queued_create(db)
    run_create(job_context, correlation_id)
    # As if the first delivery died after the insert and a cancel came before the redelivery.
    db.operations.update_one(
        {"_id": correlation_id},
        {
            "$set": {
                "status": "cancelling",
                "counters.processed": 0,
                "counters.succeeded": 0,
                "recordedBatches": [],
                "intent": {"passId": pass_id, "passType": "loyalty"},
            }
        },
    )
    operation = run_create(job_context, correlation_id)
    assert operation is not None
    assert operation["status"] == "completed"
    assert operation["counters"]["succeeded"] == 1
    assert operation["counters"]["cancelled"] == 0
    assert "intent" not in db.operations.find_one({"_id": correlation_id})


def test_a_create_calls_google_for_nothing_and_leaves_the_object_owed(
    db: Any, job_context: JobContext, fake_google: FakeGoogleControl
) -> None:
    """Most passes are never saved to Google Wallet: create only renders the object; Google
    first hears of it when someone clicks the pass's Save link (tests/e2e/test_google_holders)."""
    correlation_id, pass_id = _queued_create(db)
    operation = run_create(job_context, correlation_id)
    assert operation is not None and operation["status"] == "completed"
    assert operation["counters"]["succeeded"] == 1
    assert "google" not in operation["counters"]
    document = db.passes.find_one({"_id": pass_id})
    assert document["google"]["object"]["id"] == f"{DEMO_ISSUER_ID}.{pass_id}"
    assert document["googlePending"] is True and document["google"]["syncedHash"] is None
    assert document["googleHolder"] is None
    assert fake_google.state()["log"] == []


def test_a_worker_dying_after_google_took_the_object_still_counts_it(
    db: Any, job_context: JobContext, monkeypatch: pytest.MonkeyPatch, fake_google: Any
) -> None:
    """Google's acknowledgement is stored only once the operation counted the call: an update
    job that dies in between sends the object again on redelivery and counts it, instead of
    finding nothing owed and counting nothing."""
    pass_id = created_pass(db, job_context)
    correlation_id = queued_operation(
        db, "update", {"passId": pass_id, "patch": {"additionalData": {"points": 9}}}
    )

    def worker_killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed before counting")

    monkeypatch.setattr(updating.operations, "record_results", worker_killed)
    with pytest.raises(RuntimeError):
        run_update(job_context, correlation_id)
    google = db.passes.find_one({"_id": pass_id})["google"]
    assert google.get("syncedHash") != google["contentHash"]  # still owed
    monkeypatch.undo()
    operation = run_update(job_context, correlation_id)
    assert operation is not None and operation["status"] == "completed"
    assert operation["counters"]["google"]["patched"] == 1  # sent again, counted
    google = db.passes.find_one({"_id": pass_id})["google"]
    assert google["syncedHash"] == google["contentHash"]
