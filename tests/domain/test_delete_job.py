"""The delete job against the real MongoDB and the fake Google Wallet API, without a worker:
counted once when Celery delivers it twice, a crashed erasure finished by the redelivery,
other jobs of an erased pass stopped, and a pass kept when Google cannot be told."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from dev.fake_google import FakeGoogleControl
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.lifecycle.deletion import deletion_intent, run_delete
from shared.passes.jobs import JobContext
from shared.passes.updating import run_update
from shared.repositories import tombstones
from tests.support.google_tenants import DEMO_ISSUER_ID
from tests.support.jobs import created_pass, queued_operation


def _created_pass(db: Any, context: JobContext) -> str:
    """A demo loyalty pass, rendered for Apple and sent to (fake) Google as a worker does."""
    return created_pass(
        db,
        context,
        identifiers={"crm": f"C-{secrets.token_hex(4)}"},
        metadata={"store": "42"},
    )


def _deletion(db: Any, pass_id: str, *, erase: bool = False) -> str:
    return queued_operation(
        db, "erase" if erase else "delete", deletion_intent(pass_id, erase=erase)
    )


def _register_device(db: Any, pass_id: str) -> None:
    now = utcnow()
    db.registrations.insert_one(
        {
            "deviceLibraryIdentifier": secrets.token_hex(16),
            "passTypeIdentifier": "pass.com.example.demo",
            "serialNumber": pass_id,
            "pushToken": secrets.token_hex(32),
            "tenant": "demo",
            "createdAt": now,
            "updatedAt": now,
        }
    )


def _crashed_before_counting(db: Any, correlation_id: str, intent: dict[str, Any]) -> None:
    """As if the worker died after doing the work but before counting it."""
    db.operations.update_one(
        {"_id": correlation_id},
        {
            "$set": {
                "status": "running",
                "counters.processed": 0,
                "counters.succeeded": 0,
                "recordedBatches": [],
                "finishedAt": None,
                "intent": intent,
            }
        },
    )


def test_a_redelivered_deletion_is_counted_once(
    db: Any, job_context: JobContext, fake_google: FakeGoogleControl
) -> None:
    pass_id = _created_pass(db, job_context)
    correlation_id = _deletion(db, pass_id)
    first = run_delete(job_context, correlation_id)
    second = run_delete(job_context, correlation_id)
    assert first is not None and second is not None
    assert second["status"] == "completed"
    assert (second["counters"]["succeeded"], second["counters"]["processed"]) == (1, 1)
    assert second["counters"]["google"]["patched"] == 1  # voided at Google once
    assert db.passes.find_one({"_id": pass_id}) is None
    tombstone = tombstones.find_deletion(db, "demo", pass_id)
    assert tombstone is not None and tombstone["deletedBy"] == correlation_id
    object_id = f"{DEMO_ISSUER_ID}.{pass_id}"
    assert fake_google.object(object_id)["resource"]["state"] == "INACTIVE"  # type: ignore[index]


def test_a_later_deletion_of_the_same_pass_changes_nothing(
    db: Any, job_context: JobContext, fake_google: FakeGoogleControl
) -> None:
    pass_id = _created_pass(db, job_context)
    # Both accepted while the pass was there; the second job runs after the first.
    first, second = _deletion(db, pass_id), _deletion(db, pass_id)
    assert run_delete(job_context, first)["counters"]["succeeded"] == 1  # type: ignore[index]
    late = run_delete(job_context, second)
    assert late is not None and late["status"] == "completed"
    assert (late["counters"]["succeeded"], late["counters"]["unchanged"]) == (0, 1)


def test_a_redelivery_finishes_an_erasure_the_first_delivery_left_half_done(
    db: Any, job_context: JobContext, fake_google: FakeGoogleControl
) -> None:
    pass_id = _created_pass(db, job_context)
    intent = deletion_intent(pass_id, erase=True)
    correlation_id = _deletion(db, pass_id, erase=True)
    assert run_delete(job_context, correlation_id)["status"] == "completed"  # type: ignore[index]
    # The worker died mid-erasure: a registration not yet deleted, nothing counted.
    _register_device(db, pass_id)
    _crashed_before_counting(db, correlation_id, intent)

    operation = run_delete(job_context, correlation_id)
    assert operation is not None and operation["status"] == "completed"
    assert operation["counters"]["succeeded"] == 1
    assert db.registrations.count_documents({"serialNumber": pass_id}) == 0
    assert "intent" not in db.operations.find_one({"_id": correlation_id})
    assert db.pass_tombstones.find_one({"_id": correlation_id})["passType"] == "loyalty"


def test_erasing_stops_the_pass_s_other_unfinished_jobs(
    db: Any, job_context: JobContext, fake_google: FakeGoogleControl
) -> None:
    pass_id = _created_pass(db, job_context)
    secret_tier = f"tier-{secrets.token_hex(4)}"
    update = queued_operation(
        db, "update", {"passId": pass_id, "patch": {"metadata": {"tier": secret_tier}}}
    )
    erase = _deletion(db, pass_id, erase=True)
    assert run_delete(job_context, erase)["status"] == "completed"  # type: ignore[index]

    stopped = db.operations.find_one({"_id": update})
    assert stopped["status"] == "failed"
    assert stopped["failureReason"] == "the pass was erased"
    assert "intent" not in stopped  # the metadata it was to write is gone
    # Its job, delivered afterwards, finds the operation ended and does nothing.
    assert run_update(job_context, update)["status"] == "failed"  # type: ignore[index]
    assert db.passes.find_one({"_id": pass_id}) is None


def test_a_pass_google_cannot_void_is_kept_voided_until_deleted_again(
    db: Any, job_context: JobContext, fake_google: FakeGoogleControl
) -> None:
    pass_id = _created_pass(db, job_context)
    # Google refuses every call for good (a wrong API URL: 404s, which are not retried).
    refusing = replace(
        job_context.settings,
        google_api_base_url=job_context.settings.google_api_base_url + "/refusing",
    )
    refused = run_delete(replace(job_context, settings=refusing), _deletion(db, pass_id))
    assert refused is not None and refused["status"] == "failed"
    assert refused["counters"]["google"]["failed"] == 1
    assert refused["errors"][0]["id"] == pass_id
    assert "Google Wallet did not take the voided object" in refused["errors"][0]["reason"]
    kept = db.passes.find_one({"_id": pass_id})
    assert kept is not None and kept["status"] == "voided"
    object_id = f"{DEMO_ISSUER_ID}.{pass_id}"
    assert fake_google.object(object_id)["resource"]["state"] == "ACTIVE"  # type: ignore[index]

    again = run_delete(job_context, _deletion(db, pass_id))
    assert again is not None and again["status"] == "completed"
    assert again["counters"]["google"]["patched"] == 1
    assert fake_google.object(object_id)["resource"]["state"] == "INACTIVE"  # type: ignore[index]
    assert db.passes.find_one({"_id": pass_id}) is None


def test_a_pass_whose_type_is_gone_is_still_deleted(db: Any, job_context: JobContext) -> None:
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {
            "_id": pass_id,
            "tenant": "demo",
            "passType": "retired-card",
            "authenticationToken": secrets.token_urlsafe(24),
            "identifiers": {"crm": "C-RETIRED"},
            "metadata": {},
            "additionalData": {},
            "status": "active",
            "version": 1,
            "createdAt": now,
            "updatedAt": now,
        }
    )
    operation = run_delete(job_context, _deletion(db, pass_id, erase=True))
    assert operation is not None and operation["status"] == "completed"
    assert operation["counters"]["succeeded"] == 1
    assert db.passes.find_one({"_id": pass_id}) is None
