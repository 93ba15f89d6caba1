"""Apple update tags of a campaign batch are reserved when the batch writes, not when it
starts rendering: a device that was handed the tag of a job that wrote in between must still
be told about the batch's passes ("serials updated since" that tag)."""

from __future__ import annotations

from typing import Any

import pytest

from shared import operations
from shared.apple import issuing
from shared.campaigns import PUSH_UPDATE
from shared.campaigns.batches import run_batch
from shared.campaigns.segments import Segment, to_intent
from shared.infra.ids import new_correlation_id
from shared.passes.apple_versions import UPDATE_TAG_SEQUENCE
from shared.passes.jobs import JobContext
from shared.passes.search import PassFilter
from shared.repositories import counters
from tests.support.jobs import created_pass


def test_a_batch_tags_its_passes_above_a_tag_taken_while_it_rendered(
    db: Any, job_context: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    pass_ids = [created_pass(db, job_context, additionalData={"points": 1}) for _ in range(3)]
    correlation_id = new_correlation_id()
    segment = Segment(filters=PassFilter(), ids=tuple(pass_ids))
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id="demo",
            kind=PUSH_UPDATE,
            total=len(pass_ids),
            intent={"segment": to_intent(segment), "patch": {"additionalData": {"points": 2}}},
        ),
    )
    db.operations.update_one({"_id": correlation_id}, {"$set": {"status": "running"}})
    sign, signed, concurrent = issuing.sign, [], []

    def sign_while_another_job_writes(*args: Any, **kwargs: Any) -> Any:
        if len(signed) == 1:
            # Another job (a single-pass update) takes its tag, writes and pushes meanwhile.
            (tag,) = counters.reserve(db, UPDATE_TAG_SEQUENCE)
            concurrent.append(tag)
        signed.append(args)
        return sign(*args, **kwargs)

    monkeypatch.setattr(issuing, "sign", sign_while_another_job_writes)
    run_batch(job_context, correlation_id, "batch:0000000", pass_ids)

    assert len(concurrent) == 1
    tags = [db.passes.find_one({"_id": i})["apple"]["updateTag"] for i in pass_ids]
    assert len(set(tags)) == 3
    assert min(tags) > concurrent[0]
