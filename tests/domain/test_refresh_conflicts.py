"""A refresh (an update job with an empty patch, started by a status, redeem, balance,
expiry or resend) that keeps losing its version-guarded write to newer changes ends as
superseded, not failed: each of those changes has its own job rendering it. An update with a
patch of its own still fails, with the reason, rather than drop the patch."""

from __future__ import annotations

from typing import Any

import pytest

from shared.passes import updating
from shared.passes.jobs import JobContext
from shared.passes.updating import run_update
from tests.support.jobs import created_pass, queued_operation


@pytest.fixture
def pass_id(db: Any, job_context: JobContext) -> str:
    return created_pass(db, job_context, additionalData={"points": 1})


@pytest.fixture
def busy_pass(db: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Another writer changes the pass (and bumps its version) just before each write."""
    changes: list[int] = []

    def beaten(db_: Any, tenant_id: str, pass_id: str, **kwargs: Any) -> bool:
        changes.append(len(changes))
        db.passes.update_one(
            {"_id": pass_id}, {"$inc": {"version": 1, "additionalData.points": 10}}
        )
        return False

    monkeypatch.setattr(updating.passes_repo, "update_pass", beaten)
    return changes


def test_a_refresh_that_keeps_losing_is_superseded(
    db: Any, job_context: JobContext, pass_id: str, busy_pass: list[int]
) -> None:
    db.passes.update_one({"_id": pass_id}, {"$inc": {"version": 1, "additionalData.points": 1}})
    refresh = queued_operation(db, "balance", {"passId": pass_id, "patch": {}})
    operation = run_update(job_context, refresh)
    assert operation is not None and busy_pass  # it did lose its writes
    assert operation["status"] == "completed"
    assert (operation["counters"]["unchanged"], operation["counters"]["failed"]) == (1, 0)


def test_an_update_with_a_patch_that_keeps_losing_fails_with_the_reason(
    db: Any, job_context: JobContext, pass_id: str, busy_pass: list[int]
) -> None:
    update = queued_operation(
        db, "update", {"passId": pass_id, "patch": {"metadata": {"tier": "gold"}}}
    )
    operation = run_update(job_context, update)
    assert operation is not None and operation["status"] == "failed"
    assert operation["errors"] == [{"id": pass_id, "reason": "the pass kept changing; try again"}]
