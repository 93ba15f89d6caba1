"""A campaign's class message against the real MongoDB and Redis (Google a recording stand-in):
decided once when planned, recorded on the operation, sent once however often planning runs
and whenever its job dies, counted once; refused by Google, the objects get the message."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from shared.campaigns import PREVIEW, PUSH_UPDATE, class_messages
from shared.campaigns.planning import run_plan
from shared.campaigns.segments import Segment, to_intent
from shared.clients.google_wallet import CallStats, GoogleApiError
from shared.infra.clock import utcnow
from shared.notifications import budgets
from shared.notifications.campaign import for_campaign
from shared.operations import RUNNING, new_operation
from shared.passes.jobs import JobContext
from shared.passes.search import PassFilter
from shared.repositories import operations as operations_repo

PASS_TYPE = "mini"  # the test tenant's Google-only generic pass type


class Crash(Exception):
    """The worker process dies here."""


class RecordingGoogle:
    """Google as the send sees it: classes and their messages, calls counted."""

    def __init__(self, *, crash: str | None = None, refuse: int | None = None) -> None:
        self.stats = CallStats()
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.crash, self.refuse = crash, refuse  # crash "before" or "after" Google takes it

    def insert_class(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.stats.requests += 1
        return dict(body)

    def get_class(self, kind: str, class_id: str) -> dict[str, Any]:
        self.stats.requests += 1
        return {"id": class_id, "messages": list(self.messages.get(class_id, []))}

    def add_class_message(
        self, kind: str, class_id: str, message: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.stats.requests += 1
        if self.crash == "before":
            raise Crash
        if self.refuse is not None:
            raise GoogleApiError(self.refuse, "invalid", "refused")
        self.messages.setdefault(class_id, []).append(dict(message))
        if self.crash == "after":
            raise Crash
        return {"resource": {"id": class_id}}


def with_google(context: JobContext, google: RecordingGoogle) -> JobContext:
    return dataclasses.replace(context, google_client=lambda *_: google)


def a_campaign(db: Any, *, ids: tuple[str, ...] = (), total: int = 3) -> dict[str, Any]:
    """A running campaign, planned over `total` passes, with a transactional message."""
    segment = Segment(PassFilter(pass_types=(PASS_TYPE,)), ids=ids)
    operation = new_operation(
        correlation_id=f"class-{uuid.uuid4().hex[:12]}",
        tenant_id="demo",
        kind=PUSH_UPDATE,
        total=total,
        intent={"segment": to_intent(segment), "patch": {}},
    )
    operation.update(status=RUNNING, message={"content": "Open at 10", "localizedContent": {}})
    operations_repo.insert_operation(db, operation)
    return operation


def stored(db: Any, operation: Mapping[str, Any]) -> dict[str, Any]:
    found = operations_repo.load_operation(db, str(operation["_id"]))
    assert found is not None
    return found


@pytest.fixture
def class_id(job_context: JobContext) -> str:
    """The mini pass type's class, its class alert budget whole again."""
    tenant = job_context.tenants.get("demo")
    assert tenant is not None
    google = tenant.pass_types[PASS_TYPE].google
    assert google is not None
    job_context.redis.delete(f"{class_messages.CLASS_KEY}{google.class_id}")
    return google.class_id


def test_the_class_message_goes_once_however_often_planning_runs(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    google = RecordingGoogle()
    context, operation = with_google(job_context, google), a_campaign(db)
    for _ in range(3):  # a planning job delivered three times
        class_messages.plan(context, stored(db, operation))
    assert [m["id"] for m in google.messages[class_id]] == [operation["_id"]]
    assert google.messages[class_id][0]["messageType"] == "TEXT_AND_NOTIFY"
    after = stored(db, operation)
    assert after["googleMessage"]["state"] == "sent"
    assert after["googleMessage"]["messageType"] == "TEXT_AND_NOTIFY"
    assert class_messages.by_class(after)
    counters = after["counters"]["google"]
    assert (counters["classMessages"], counters["classNotified"]) == (1, 1)


def test_a_job_that_died_after_google_took_it_is_not_sent_again(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    google = RecordingGoogle(crash="after")
    context, operation = with_google(job_context, google), a_campaign(db)
    with pytest.raises(Crash):
        class_messages.plan(context, stored(db, operation), owner="task-1")
    assert stored(db, operation)["googleMessage"]["state"] == "sending"
    google.crash = None
    # Another copy of the planning job meanwhile: the dead job's lease holds, nothing is sent.
    class_messages.plan(context, stored(db, operation), owner="task-2")
    assert stored(db, operation)["googleMessage"]["state"] == "sending"
    # The same job delivered again (its pool child died) takes the send over at once, finds
    # the message on Google's class, and only records it.
    class_messages.plan(context, stored(db, operation), owner="task-1")
    assert len(google.messages[class_id]) == 1
    after = stored(db, operation)
    assert (after["googleMessage"]["state"], after["counters"]["google"]["classMessages"]) == (
        "sent",
        1,
    )
    assert class_messages.by_class(after)  # the batches add no message to any object


def test_a_job_that_died_before_google_took_it_is_sent_by_the_next(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    google = RecordingGoogle(crash="before")
    context, operation = with_google(job_context, google), a_campaign(db)
    with pytest.raises(Crash):
        class_messages.plan(context, stored(db, operation))
    google.crash = None
    # Any job takes over once the dead job's lease ran out (here: the clock moved past it).
    later = utcnow() + class_messages.LEASE + timedelta(seconds=1)
    class_messages.send_once(context, stored(db, operation), now=later)
    assert [m["id"] for m in google.messages[class_id]] == [operation["_id"]]
    assert stored(db, operation)["counters"]["google"]["classMessages"] == 1


def test_the_walk_sends_a_class_message_whose_planning_job_never_came_back(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    """The worker's main process died mid-send: its planning message comes back only after
    the broker's visibility timeout, but the walk (each batch, the watchdog) takes it over."""
    google = RecordingGoogle(crash="before")
    context, operation = with_google(job_context, google), a_campaign(db)
    with pytest.raises(Crash):
        class_messages.plan(context, stored(db, operation), owner="task-1")
    google.crash = None
    class_messages.resume(context, str(operation["_id"]))  # the dead job's lease holds
    assert google.messages == {}
    later = utcnow() + class_messages.LEASE + timedelta(seconds=1)
    class_messages.resume(context, str(operation["_id"]), now=later)
    assert [m["id"] for m in google.messages[class_id]] == [operation["_id"]]
    calls = google.stats.requests
    class_messages.resume(context, str(operation["_id"]), now=later)  # sent: nothing more
    assert google.stats.requests == calls
    assert stored(db, operation)["counters"]["google"]["classMessages"] == 1


def test_a_planning_job_back_after_its_campaign_ended_still_sends_once(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    google = RecordingGoogle(crash="before")
    context, operation = with_google(job_context, google), a_campaign(db)
    with pytest.raises(Crash):
        class_messages.plan(context, stored(db, operation), owner="task-1")
    google.crash = None
    # An hour later (the broker's visibility timeout) the campaign has completed.
    an_hour_ago = utcnow() - timedelta(hours=1)
    db.operations.update_one(
        {"_id": operation["_id"]},
        {"$set": {"status": "completed", "googleMessage.leaseUntil": an_hour_ago}},
    )
    for _ in range(2):
        run_plan(context, str(operation["_id"]), lambda *_: None)
    assert [m["id"] for m in google.messages[class_id]] == [operation["_id"]]
    after = stored(db, operation)
    assert (after["status"], after["googleMessage"]["state"]) == ("completed", "sent")
    assert after["counters"]["google"]["classMessages"] == 1


def test_a_preview_decides_but_never_sends(job_context: JobContext, db: Any, class_id: str) -> None:
    google = RecordingGoogle()
    context, operation = with_google(job_context, google), a_campaign(db)
    db.operations.update_one({"_id": operation["_id"]}, {"$set": {"kind": PREVIEW}})
    record = class_messages.plan(context, stored(db, operation))
    assert record is not None
    assert (record["by"], record["classId"]) == ("class", class_id)
    class_messages.resume(context, str(operation["_id"]), now=utcnow() + timedelta(hours=1))
    assert google.messages == {}
    assert google.stats.requests == 0


def test_a_class_message_google_refuses_falls_back_to_the_objects(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    google = RecordingGoogle(refuse=400)
    context, operation = with_google(job_context, google), a_campaign(db)
    class_messages.plan(context, stored(db, operation))
    after = stored(db, operation)
    assert after["googleMessage"]["state"] == "failed"
    assert after["counters"]["google"]["classMessageFailed"] == 1
    assert not class_messages.by_class(after)  # the batches add it to each object
    # Its alert was given back to the class.
    assert context.redis.zcard(f"{class_messages.CLASS_KEY}{class_id}") == 0


def test_the_fourth_class_message_in_a_day_goes_silently(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    google = RecordingGoogle()
    context = with_google(job_context, google)
    for _ in range(4):
        class_messages.plan(context, stored(db, a_campaign(db)))
    types = [m["messageType"] for m in google.messages[class_id]]
    assert types == ["TEXT_AND_NOTIFY"] * 3 + ["TEXT"]


def test_a_narrower_segment_is_decided_per_object_and_sends_nothing(
    job_context: JobContext, db: Any, class_id: str
) -> None:
    google = RecordingGoogle()
    operation = a_campaign(db, ids=("p1", "p2"))
    record = class_messages.plan(with_google(job_context, google), stored(db, operation))
    assert record == {"by": "objects", "why": class_messages.NARROW_SEGMENT}
    assert stored(db, operation)["googleMessage"] == record
    assert google.messages == {}


def test_by_class_each_pass_is_decided_for_apple_alone(job_context: JobContext) -> None:
    """The Apple holder still gets the message per pass; the object spends no budget."""
    run = uuid.uuid4().hex[:8]
    document = {
        "_id": f"{run}-p",
        "tenant": "demo",
        "passType": "loyalty",
        "apple": {"passTypeIdentifier": "pass.x"},
        "google": {"objectId": f"1.{run}"},
    }
    operation = {
        "_id": f"{run}-msg",
        "message": {"content": "Hi"},
        "googleMessage": {"by": "class", "state": "sent"},
    }
    tenant = job_context.tenants.get("demo")
    assert tenant is not None
    made = for_campaign(job_context.redis, tenant.notifications, operation, utcnow())
    notes = class_messages.per_pass(made, operation)
    assert notes is not None
    notes.read_budgets([document])
    decision = notes.decision(document)
    assert (decision.alert_apple, decision.alert_google, decision.suppressed_reason) == (
        True,
        False,
        None,
    )
    assert notes.google(document) == (True, False)
    spent = budgets.peek(job_context.redis, document, utcnow())
    assert (spent.apple_spent, spent.google_spent) == (1, 0)
    assert notes.counts.as_counters() == {}
