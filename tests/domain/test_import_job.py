"""The import job against the real MongoDB, without a worker: rows applied in file order,
each bad row failing alone, batches counted exactly once however often they run, and
cancellation between rows, between batches and while planning."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from shared import operations
from shared.imports import batches as import_batches
from shared.imports.batches import run_import_batch
from shared.imports.csv_file import read_import_file
from shared.imports.planning import run_import_plan
from shared.imports.storing import store_import
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.passes.documents import new_pass_document
from shared.passes.jobs import JobContext


def insert_passes(db: Any, count: int, **identifiers: str) -> list[str]:
    """Demo loyalty passes as the create job stores them, not rendered yet."""
    now = utcnow()
    documents = [
        new_pass_document(
            pass_id=new_pass_id(),
            tenant_id="demo",
            pass_type="loyalty",
            identifiers={"crm": f"D-{secrets.token_hex(6)}", **identifiers},
            metadata={"store": "1"},
            additional_data={"points": 1},
            correlation_id="test-insert",
            now=now,
        )
        for _ in range(count)
    ]
    db.passes.insert_many(documents)
    return [document["_id"] for document in documents]


def queued_import(db: Any, text: str, *, rows_per_batch: int = 100) -> str:
    correlation_id = new_correlation_id()
    upload = read_import_file(text.encode(), max_rows=1000)
    store_import(
        db,
        tenant_id="demo",
        correlation_id=correlation_id,
        upload=upload,
        rows_per_batch=rows_per_batch,
    )
    return correlation_id


def plan(context: JobContext, correlation_id: str) -> list[int]:
    enqueued: list[int] = []
    run_import_plan(context, correlation_id, enqueued.append)
    return enqueued


def results(db: Any, correlation_id: str) -> dict[int, tuple[Any, ...]]:
    found = db.import_batches.find({"correlationId": correlation_id}, sort=[("index", 1)])
    return {
        r["row"]: (r["passId"], r["status"], r["error"])
        for batch in found
        for r in batch.get("results") or []
    }


def counters(operation: dict[str, Any] | None) -> tuple[int, ...]:
    assert operation is not None
    c = operation["counters"]
    return (c["total"], c["processed"], c["succeeded"], c["unchanged"], c["failed"], c["cancelled"])


def test_rows_apply_in_file_order_and_bad_ones_fail_alone(db: Any, job_context: JobContext) -> None:
    first, second = insert_passes(db, 2)
    twins = insert_passes(db, 2, email=f"twin-{secrets.token_hex(4)}@example.com")
    twin_email = db.passes.find_one({"_id": twins[0]})["identifiers"]["email"]
    text = (
        "id,metadata.tier,additionalData.points,additionalData.note\r\n"
        f"{first},gold,10,\r\n"
        f"{first},,11,'007\r\n"  # the same pass again: applied after the row before
        f"{second},,1,\r\n"  # rendered for the first time
        f"{second},null,true,\r\n"  # a boolean as points: the Apple pass does not render
        "no-such-pass,x,1,\r\n"
        f",x,1,\r\n"
        f"{second},,1,\r\n"  # unchanged: the points it already has
    )
    correlation_id = queued_import(db, text)
    assert plan(job_context, correlation_id) == [0]
    operation = run_import_batch(job_context, correlation_id, 0)
    assert operation is not None and operation["status"] == "completed_with_errors"
    assert counters(operation) == (7, 7, 3, 1, 3, 0)

    stored = db.passes.find_one({"_id": first})
    assert stored["metadata"] == {"store": "1", "tier": "gold"}
    assert stored["additionalData"] == {"points": 11, "note": "007"}
    assert stored["version"] == 3
    found = results(db, correlation_id)
    assert found[2] == (first, "succeeded", None)
    assert found[3] == (first, "succeeded", None)
    assert found[4] == (second, "succeeded", None)
    assert found[5][:2] == (second, "failed")
    assert found[5][2].startswith("Apple pass does not render")
    assert found[6] == (None, "failed", "no pass matches id")
    assert found[7] == (None, "failed", "names no pass: id is empty")
    assert found[8] == (second, "unchanged", None)
    assert db.passes.find_one({"_id": second})["metadata"] == {"store": "1"}  # row 5 wrote nothing
    assert operation["errors"][0] == {"id": "row 5", "reason": found[5][2]}

    # Several passes share the identifier: the row names none of them.
    ambiguous = queued_import(db, f"id.email,metadata.a\r\n{twin_email},1\r\n")
    plan(job_context, ambiguous)
    done = run_import_batch(job_context, ambiguous, 0)
    assert done is not None and done["status"] == "failed"
    assert results(db, ambiguous)[2] == (
        None,
        "failed",
        "several passes match id.email; name one by its id or a unique identifier",
    )
    assert {d["version"] for d in db.passes.find({"_id": {"$in": twins}})} == {1}


def test_a_batch_is_counted_once_from_its_stored_results(db: Any, job_context: JobContext) -> None:
    pass_ids = insert_passes(db, 5)
    text = "id,additionalData.points\r\n" + "".join(f"{p},50\r\n" for p in pass_ids)
    correlation_id = queued_import(db, text, rows_per_batch=2)
    assert plan(job_context, correlation_id) == [0, 1, 2]
    assert plan(job_context, correlation_id) == [0, 1, 2]  # a redelivered plan: same batches
    run_import_batch(job_context, correlation_id, 0)
    run_import_batch(job_context, correlation_id, 0)  # delivered twice
    running = db.operations.find_one({"_id": correlation_id})
    assert counters(running) == (5, 2, 2, 0, 0, 0)

    # A worker died after storing batch 1's results and before counting them: the next
    # delivery counts what was stored (succeeded), not what a second run would find (unchanged).
    run_import_batch(job_context, correlation_id, 1)
    db.operations.update_one(
        {"_id": correlation_id},
        {
            "$pull": {"recordedBatches": f"{correlation_id}:000001"},
            "$inc": {"counters.processed": -2, "counters.succeeded": -2},
        },
    )
    run_import_batch(job_context, correlation_id, 1)
    finished = run_import_batch(job_context, correlation_id, 2)
    assert finished is not None and finished["status"] == "completed"
    assert counters(finished) == (5, 5, 5, 0, 0, 0)
    assert [status for _, status, _ in results(db, correlation_id).values()] == ["succeeded"] * 5
    # Once applied, a batch keeps its results and drops the file's cells.
    assert all("text" not in b for b in db.import_batches.find({"correlationId": correlation_id}))


def test_cancel_between_batches_counts_every_row_once(db: Any, job_context: JobContext) -> None:
    pass_ids = insert_passes(db, 6)
    text = "id,additionalData.points\r\n" + "".join(f"{p},60\r\n" for p in pass_ids)
    correlation_id = queued_import(db, text, rows_per_batch=2)
    assert plan(job_context, correlation_id) == [0, 1, 2]
    run_import_batch(job_context, correlation_id, 0)
    assert operations.request_cancel(db, "demo", correlation_id)["status"] == "cancelling"
    run_import_batch(job_context, correlation_id, 1)
    finished = run_import_batch(job_context, correlation_id, 2)
    assert finished is not None and finished["status"] == "cancelled"
    assert counters(finished) == (6, 6, 2, 0, 0, 4)
    statuses = [status for _, status, _ in results(db, correlation_id).values()]
    assert statuses == ["succeeded"] * 2 + ["cancelled"] * 4
    assert [d["version"] for d in db.passes.find({"_id": {"$in": pass_ids[2:]}})] == [1] * 4


def test_cancel_while_planning_counts_the_batches_not_enqueued(
    db: Any, job_context: JobContext
) -> None:
    pass_ids = insert_passes(db, 5)
    text = "id,additionalData.points\r\n" + "".join(f"{p},70\r\n" for p in pass_ids)
    correlation_id = queued_import(db, text, rows_per_batch=2)
    enqueued: list[int] = []

    def enqueue_then_cancel(index: int) -> None:
        enqueued.append(index)
        operations.request_cancel(db, "demo", correlation_id)

    run_import_plan(job_context, correlation_id, enqueue_then_cancel)
    assert enqueued == [0]
    planned = db.operations.find_one({"_id": correlation_id})
    assert counters(planned) == (5, 3, 0, 0, 0, 3)  # batches 1 and 2
    # The enqueued batch starts after the cancel: none of its rows run.
    finished = run_import_batch(job_context, correlation_id, 0)
    assert finished is not None and finished["status"] == "cancelled"
    assert counters(finished) == (5, 5, 0, 0, 0, 5)
    assert {d["version"] for d in db.passes.find({"_id": {"$in": pass_ids}})} == {1}


def test_a_cancelled_import_that_never_started_runs_nothing(
    db: Any, job_context: JobContext
) -> None:
    [pass_id] = insert_passes(db, 1)
    correlation_id = queued_import(db, f"id,additionalData.points\r\n{pass_id},80\r\n")
    assert operations.request_cancel(db, "demo", correlation_id)["status"] == "cancelled"
    assert plan(job_context, correlation_id) == []
    run_import_batch(job_context, correlation_id, 0)  # a batch task that was already queued
    assert db.passes.find_one({"_id": pass_id})["version"] == 1
    assert results(db, correlation_id) == {}


def test_a_re_run_after_a_crash_past_storing_still_clears_what_was_delivered(
    db: Any, job_context: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored results keep what delivery owes clearing: a worker that died after storing
    a batch's results leaves no Google object marked owed (and no push flag) once re-run."""
    pass_ids = insert_passes(db, 2)
    # Saved in Google Wallet (as their save callbacks record): their changes go to Google.
    db.passes.update_many({"_id": {"$in": pass_ids}}, {"$set": {"googleHolder": "saved"}})
    text = "id,additionalData.points\r\n" + "".join(f"{p},77\r\n" for p in pass_ids)
    correlation_id = queued_import(db, text)
    assert plan(job_context, correlation_id) == [0]

    def worker_killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed after storing the results")

    monkeypatch.setattr(import_batches, "_record", worker_killed)
    with pytest.raises(RuntimeError):
        run_import_batch(job_context, correlation_id, 0)
    assert all(db.passes.find_one({"_id": p}).get("googlePending") for p in pass_ids)
    monkeypatch.undo()
    finished = run_import_batch(job_context, correlation_id, 0)
    assert counters(finished) == (2, 2, 2, 0, 0, 0)
    for pass_id in pass_ids:
        stored = db.passes.find_one({"_id": pass_id})
        assert "googlePending" not in stored and "applePushPending" not in stored
        assert stored["google"]["syncedHash"] == stored["google"]["contentHash"]
