"""A worker child freezes its long-lived heap once (after its fork and after its first job);
any other process that runs jobs keeps Python's collector as it is."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from workers import heap


@pytest.fixture(autouse=True)
def _fresh_process() -> Iterator[None]:
    gc.unfreeze()
    heap._Process.child = heap._Process.settled = None
    yield
    gc.unfreeze()
    heap._Process.child = heap._Process.settled = None


def test_a_process_that_did_not_fork_for_celery_freezes_nothing() -> None:
    heap.after_job()

    assert gc.get_freeze_count() == 0


def test_a_child_freezes_its_heap_after_the_fork_and_its_first_job_only() -> None:
    heap.after_fork()
    inherited = gc.get_freeze_count()
    loaded_by_first_job = [[n] for n in range(1000)]  # lists: always tracked

    heap.after_job()
    settled = gc.get_freeze_count()
    made_by_later_jobs = [[n] for n in range(1000)]
    heap.after_job()

    assert inherited > 0
    assert settled >= inherited + len(loaded_by_first_job)
    assert gc.get_freeze_count() == settled  # later jobs' objects stay collectable
    assert made_by_later_jobs
