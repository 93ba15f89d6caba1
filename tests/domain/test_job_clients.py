"""Domain code reaches its clients through JobContext, so a job can be run against a recording
stub: here the APNs sender of an update job, where the TLS fake is not the point."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import pytest

from shared.clients.apns import Outcome, PushResult
from shared.infra.clock import utcnow
from shared.passes.jobs import JobContext
from shared.passes.updating import run_update
from shared.repositories import registrations
from tests.support.jobs import created_pass, queued_operation


class RecordingSender:
    """Answers every push with `status` and records (topic, tokens)."""

    def __init__(self, status: int, reason: str | None, outcome: Outcome) -> None:
        self.answer = (status, reason, outcome)
        self.sent: list[tuple[str, list[str]]] = []
        self.identities: list[str] = []

    def factory(self, identity: Any, settings: Any) -> RecordingSender:
        self.identities.append(identity.pass_type_identifier)
        return self

    def send_pushes(self, topic: str, tokens: list[str]) -> list[PushResult]:
        self.sent.append((topic, list(tokens)))
        status, reason, outcome = self.answer
        return [PushResult(token, status, reason, outcome, attempts=1) for token in tokens]


DELIVERED = (200, None, Outcome.DELIVERED)
GONE = (410, "Unregistered", Outcome.UNREGISTER)


@pytest.mark.parametrize(
    ("answer", "counted", "registrations_left"),
    [
        (DELIVERED, {"pushed": 1, "failed": 0, "unregistered": 0}, 1),
        # A token APNs refuses for good loses its registration.
        (GONE, {"pushed": 0, "failed": 0, "unregistered": 1}, 0),
    ],
)
def test_an_update_pushes_the_devices_through_the_contexts_sender(
    db: Any,
    job_context: JobContext,
    answer: tuple[int, str | None, Outcome],
    counted: dict[str, int],
    registrations_left: int,
) -> None:
    pass_id = created_pass(db, job_context, additionalData={"points": 1})
    topic = db.passes.find_one({"_id": pass_id})["apple"]["passTypeIdentifier"]
    token = secrets.token_hex(32)
    registrations.upsert_registration(
        db,
        tenant_id="demo",
        device=secrets.token_hex(16),
        pass_type_identifier=topic,
        serial=pass_id,
        push_token=token,
        now=utcnow(),
    )
    sender = RecordingSender(*answer)
    context = dataclasses.replace(job_context, push_sender=sender.factory)

    intent = {"passId": pass_id, "patch": {"additionalData": {"points": 2}}}
    operation = run_update(context, queued_operation(db, "update", intent))

    assert operation is not None and operation["status"] == "completed"
    assert sender.identities == [topic]
    assert sender.sent == [(topic, [token])]
    assert operation["counters"]["apple"] == counted
    assert registrations.count_for_pass(db, "demo", pass_id) == registrations_left
