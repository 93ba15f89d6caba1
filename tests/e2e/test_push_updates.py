"""Campaigns (`POST /push-updates`) end to end, with the real worker: a segment of demo passes
inserted directly, a merge patch rendered and pushed batch by batch, exact counters, a
cancel halfway, and the refusals."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from dev.fake_apns import FakeApnsControl
from shared.campaigns.batches import CancelWatch
from shared.campaigns.statistics import progress
from shared.credentials.api_keys import issue_key
from shared.credentials.scopes import ALL_SCOPES, NOTIFICATION_SEND
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.passes.documents import new_pass_document
from tests.conftest import RIVAL_KEY
from tests.support.api_client import ApiClient
from tests.support.apple import PASS_TYPE_IDENTIFIER, new_push_token
from tests.support.processes import wait_until


def insert_segment(db: Any, tag: str, count: int) -> list[str]:
    """`count` demo loyalty passes as the create job stores them, but without an Apple
    version yet (the campaign renders each one as changed), in a segment of their own."""
    now = utcnow()
    documents = [
        new_pass_document(
            pass_id=new_pass_id(),
            tenant_id="demo",
            pass_type="loyalty",
            identifiers={"crm": f"C-{tag}-{index}"},
            metadata={"campaign": tag, "store": "42"},
            additional_data={"points": index},
            correlation_id="test-insert",
            now=now,
        )
        for index in range(count)
    ]
    db.passes.insert_many(documents)
    return [document["_id"] for document in documents]


def register_devices(db: Any, pass_ids: list[str]) -> list[str]:
    """One registered device per pass; their push tokens."""
    now = utcnow()
    tokens = [new_push_token() for _ in pass_ids]
    db.registrations.insert_many(
        {
            "deviceLibraryIdentifier": secrets.token_hex(16),
            "passTypeIdentifier": PASS_TYPE_IDENTIFIER,
            "serialNumber": pass_id,
            "pushToken": token,
            "tenant": "demo",
            "createdAt": now,
            "updatedAt": now,
        }
        for pass_id, token in zip(pass_ids, tokens, strict=True)
    )
    return tokens


def versions(db: Any, pass_ids: list[str]) -> dict[str, tuple[int, Any]]:
    found = db.passes.find({"_id": {"$in": pass_ids}}, {"version": 1, "updatedAt": 1})
    return {d["_id"]: (d["version"], d["updatedAt"]) for d in found}


def push_update(client: ApiClient, body: Any) -> requests.Response:
    return client.session.post(client.url("/push-updates"), json=body, timeout=10)


def start_campaign(client: ApiClient, body: Any) -> str:
    response = push_update(client, body)
    assert response.status_code == 202, response.text
    correlation_id: str = response.json()["correlationId"]
    assert response.headers["Location"].endswith(f"/api/demo/operations/{correlation_id}")
    return correlation_id


@pytest.mark.usefixtures("worker")
def test_campaign_updates_and_pushes_the_segment_once(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl
) -> None:
    tag = secrets.token_hex(6)
    segment = insert_segment(db, tag, 1000)
    tokens = register_devices(db, segment[::40])  # 25 devices
    outside = insert_segment(db, f"{tag}-other", 20)
    outside_before = versions(db, outside)
    body = {
        "filter": {"passType": ["loyalty"], "metadata": {"campaign": [tag]}},
        "data": {"additionalData": {"tier": "gold"}},
    }

    started = time.monotonic()
    operation = demo.wait_for_final(start_campaign(demo, body), timeout=45)
    elapsed = time.monotonic() - started
    assert operation["kind"] == "pushUpdate"
    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert counters["total"] == counters["processed"] == counters["succeeded"] == 1000
    assert (counters["failed"], counters["unchanged"], counters["cancelled"]) == (0, 0, 0)
    assert counters["apple"] == {"pushed": 25, "failed": 0, "unregistered": 0}
    assert operation["throughput"] > 0 and operation["eta"] is None
    print(f"\n1,000 passes rendered, signed and pushed in {elapsed:.1f} s "
          f"({operation['throughput']} passes/s by the operation's clock)")  # fmt: skip

    pushes = [push for push in fake_apns.pushes() if push["token"] in set(tokens)]
    assert sorted(push["token"] for push in pushes) == sorted(tokens)  # one each
    stored = list(db.passes.find({"_id": {"$in": segment}}))
    assert {d["version"] for d in stored} == {2}
    assert all(d["additionalData"]["tier"] == "gold" for d in stored)
    assert all(d["apple"]["passTypeIdentifier"] == PASS_TYPE_IDENTIFIER for d in stored)
    assert not any("applePushPending" in d for d in stored)
    assert versions(db, outside) == outside_before

    # The same campaign again: everything renders the same, nothing is signed or pushed.
    again = demo.wait_for_final(start_campaign(demo, body), timeout=45)
    assert again["status"] == "completed", again
    assert again["counters"]["unchanged"] == again["counters"]["total"] == 1000
    assert again["counters"]["succeeded"] == 0
    assert again["counters"]["apple"] == {"pushed": 0, "failed": 0, "unregistered": 0}
    assert len([p for p in fake_apns.pushes() if p["token"] in set(tokens)]) == len(tokens)
    assert {d["version"] for d in db.passes.find({"_id": {"$in": segment}})} == {2}


@pytest.mark.usefixtures("worker")
def test_cancel_halfway_stops_the_remaining_work(demo: ApiClient, db: Any) -> None:
    tag = secrets.token_hex(6)
    segment = insert_segment(db, tag, 3000)
    body = {"filter": {"metadata": {"campaign": [tag]}}, "data": {"additionalData": {"v": 2}}}
    correlation_id = start_campaign(demo, body)

    def some_processed() -> dict[str, Any] | None:
        found: dict[str, Any] = demo.operation(correlation_id).json()
        return found if found["counters"]["processed"] > 0 else None

    running = wait_until(some_processed, 30, interval=0.05, what="a first batch")
    assert running["status"] == "running" and running["eta"] is not None
    cancelled_at = time.monotonic()
    assert demo.cancel(correlation_id).status_code == 202
    operation = demo.wait_for_final(correlation_id, timeout=30)
    print(
        f"\ncancel took {time.monotonic() - cancelled_at:.1f} s to settle: {operation['counters']}"
    )
    counters = operation["counters"]
    assert operation["status"] == "cancelled", operation
    assert counters["processed"] == counters["total"] == 3000
    assert counters["cancelled"] > 0
    assert counters["succeeded"] + counters["cancelled"] == 3000
    # Exactly the passes counted succeeded were changed, and nothing changes after the end.
    after = versions(db, segment)
    assert sum(version == 2 for version, _ in after.values()) == counters["succeeded"]
    time.sleep(1.5)
    assert versions(db, segment) == after


@pytest.mark.usefixtures("worker")
def test_empty_segment_completes_at_once_and_keeps_the_message(demo: ApiClient, db: Any) -> None:
    body = {
        "filter": {"ids": [new_pass_id()], "apple": "installed"},
        "message": {"content": "Double points today", "localizedContent": {"fr": "Points x2"}},
    }
    correlation_id = start_campaign(demo, body)
    operation = demo.wait_for_final(correlation_id, timeout=15)
    assert operation["status"] == "completed", operation
    assert operation["counters"]["total"] == operation["counters"]["processed"] == 0
    stored = db.operations.find_one({"_id": correlation_id})
    assert stored["message"] == {
        "content": "Double points today",
        "localizedContent": {"fr": "Points x2"},
        "kind": "transactional",  # the default kind
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "filter"),
        ({"filter": {}, "extra": 1}, "extra"),
        ({"filter": {"sort": "id"}}, "filter.sort"),
        ({"filter": {"identifiers": {"1bad": ["x"]}}}, "filter.identifiers.1bad"),
        ({"filter": {"identifiers": {"a": {"b": {"c": ["x"]}}}}}, "filter.identifiers.a.b"),
        ({"filter": {"metadata": {"store": ["x" * 257]}}}, "filter.metadata.store"),
        ({"filter": {"metadata": {"store": "42"}}}, "filter.metadata.store"),
        ({"filter": {"metadata": {"store": []}}}, "filter.metadata.store"),
        ({"filter": {"apple": "maybe"}}, "filter.apple"),
        ({"filter": {"ids": ["no"]}}, "filter.ids.0"),
        ({"filter": {}, "data": {"status": "x"}}, "data.status"),
        ({"filter": {}, "data": {"metadata": {"a": [1]}}}, "data.metadata.a"),
        ({"filter": {}, "message": {"localizedContent": {"fr": "x"}}}, "message.content"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    demo: ApiClient, db: Any, body: dict[str, Any], field: str
) -> None:
    before = db.operations.count_documents({"kind": "pushUpdate"})
    response = push_update(demo, body)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]], response.text
    assert db.operations.count_documents({"kind": "pushUpdate"}) == before


def test_other_tenants_and_missing_scope_are_403(demo: ApiClient, db: Any) -> None:
    body = {"filter": {}, "data": {"additionalData": {"x": 1}}}
    assert push_update(ApiClient(demo.base_url, "demo", RIVAL_KEY), body).status_code == 403
    key = issue_key(
        db, tenant_id="demo", name="no-notify", scopes=ALL_SCOPES - {NOTIFICATION_SEND},
        now=utcnow(),
    ).plaintext  # fmt: skip
    refused = push_update(ApiClient(demo.base_url, "demo", key), body)
    assert refused.status_code == 403
    assert refused.json()["errors"] == [{"field": "scope", "reason": NOTIFICATION_SEND}]
    db.api_keys.delete_many({"name": "no-notify"})


def test_progress_figures() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    running = {"startedAt": start, "counters": {"total": 1000, "processed": 250}}
    assert progress(running, start + timedelta(seconds=5)) == {"throughput": 50.0, "eta": 15.0}
    done = {**running, "finishedAt": start + timedelta(seconds=10)}
    assert progress(done, start + timedelta(hours=1)) == {"throughput": 25.0, "eta": None}
    assert progress({"startedAt": None, "counters": {}}, start) == {"throughput": None, "eta": None}


def test_cancel_watch_reads_the_status_every_50_passes_or_half_second() -> None:
    reads: list[str] = []
    clock = [0.0]

    def status() -> str:
        reads.append("read")
        return "cancelling" if len(reads) >= 2 else "running"

    watch = CancelWatch(status, clock=lambda: clock[0])
    assert not any(watch.stop() for _ in range(50))
    assert reads == []
    assert not watch.stop()  # the 51st pass: first read
    clock[0] = 0.6
    assert watch.stop()  # half a second later: second read, cancelled
    assert watch.stop() and len(reads) == 2
    late = CancelWatch(status, status="cancelling")
    assert late.stop() and len(reads) == 2  # a batch starting after the cancel: no pass at all
