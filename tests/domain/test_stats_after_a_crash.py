"""A process that dies between a pass write and its count leaves the counters short by that
change; a redelivered job does not count it twice, and the reconcile sweep repairs the drift
on its second sighting. Against the real MongoDB (wire server), no worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.infra.clock import utcnow
from shared.passes.creation import run_create
from shared.passes.jobs import JobContext
from shared.repositories import passes as passes_repo
from shared.repositories import stats as stats_repo
from shared.stats import counting
from shared.stats.reconcile import drift_between, reconcile
from tests.support.jobs import created_pass, queued_operation

KEY = "demo/loyalty"


class WorkerDied(Exception):
    """Stands for the process ending between the two writes."""


def drift_now(db: Any) -> dict[str, int]:
    counted = stats_repo.population_of(db, "demo", "loyalty")
    return drift_between(counted, stats_repo.read_counters(db, "demo").get("loyalty", {}))


def plus(base: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    summed = {name: base.get(name, 0) + more.get(name, 0) for name in {*base, *more}}
    return {name: value for name, value in summed.items() if value}


def die(*_: Any, **__: Any) -> None:
    raise WorkerDied


def test_a_crash_between_the_pass_write_and_its_count_is_repaired(
    db: Any, job_context: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted_pass = created_pass(db, job_context, saved_in_google=False)
    before = drift_now(db)  # whatever other tests left; zero when run alone

    # The create job inserts the pass and dies before counting it...
    with monkeypatch.context() as patch:
        patch.setattr(counting, "pass_created", die)
        pass_id = "stats-crash-" + counted_pass[-10:]
        intent = {"passId": pass_id, "passType": "loyalty", "identifiers": {}, "metadata": {}}
        correlation_id = queued_operation(db, "create", {**intent, "additionalData": {}})
        with pytest.raises(WorkerDied):
            run_create(job_context, correlation_id)
    # ...and its redelivery finishes the operation without counting the pass twice.
    assert run_create(job_context, correlation_id)["status"] == "completed"  # type: ignore[index]
    # A device registers; the process dies before counting that too.
    with monkeypatch.context() as patch:
        patch.setattr(counting, "install_changed", die)
        with pytest.raises(WorkerDied):
            passes_repo.set_install_state(
                db, "demo", counted_pass, "apple", installed=True, now=utcnow()
            )
    assert drift_now(db) == plus(before, {"total": 1, "apple": 1, "active": 1})

    first = reconcile(db, ["demo"], now=utcnow())
    assert first.drifted[KEY] == plus(before, {"total": 1, "apple": 1, "active": 1})
    assert KEY not in first.repaired  # seen once: it might be a write in flight
    second = reconcile(db, ["demo"], now=utcnow())
    assert second.repaired[KEY] == first.drifted[KEY]
    assert drift_now(db) == {}
    assert KEY not in reconcile(db, ["demo"], now=utcnow()).drifted
