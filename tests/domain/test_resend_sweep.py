"""The resend sweep picks the passes whose delivery has been owed too long, once each."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from shared.infra.clock import utcnow
from shared.jobs import EnqueueError
from shared.passes.resending import resend_owed
from shared.repositories.indexes import ensure_indexes

OWED_FOR = timedelta(minutes=65)


def _pass(db: Any, *, tenant: str, age: timedelta, **flags: Any) -> str:
    pass_id = f"resend-{secrets.token_hex(6)}"
    db.passes.insert_one({"_id": pass_id, "tenant": tenant, "updatedAt": utcnow() - age, **flags})
    return pass_id


def test_only_passes_owed_longer_than_the_delay_are_resent_once_per_delay(db: Any) -> None:
    ensure_indexes(db)
    now, old, tenant = utcnow(), timedelta(hours=2), f"t-{secrets.token_hex(4)}"
    push_owed = _pass(db, tenant=tenant, age=old, applePushPending=True)
    google_owed = _pass(
        db,
        tenant=tenant,
        age=old + timedelta(minutes=1),
        googlePending=True,
        googleHolder="saved",
    )
    # Nobody holds its Google object: it waits for its Save link click, not for the sweep.
    _pass(db, tenant=tenant, age=old + timedelta(minutes=2), googlePending=True, googleHolder=None)
    _pass(db, tenant=tenant, age=timedelta(minutes=5), applePushPending=True)  # job may still run
    _pass(db, tenant=tenant, age=old, applePushPending=False, googlePending=False)  # delivered
    _pass(db, tenant="gone", age=old, googlePending=True)  # a tenant no longer configured
    sent: list[tuple[str, str, str]] = []

    def enqueue(tenant_id: str, correlation_id: str, pass_id: str) -> None:
        sent.append((tenant_id, correlation_id, pass_id))

    def sweep(at: Any) -> int:
        return resend_owed(db, [tenant], enqueue, now=at, owed_for=OWED_FOR)

    assert sweep(now) == 2
    assert [pass_id for _, _, pass_id in sent] == [google_owed, push_owed]  # longest-owed first
    for tenant_id, correlation_id, pass_id in sent:
        operation = db.operations.find_one({"_id": correlation_id})
        assert (operation["tenant"], operation["kind"], operation["status"]) == (
            tenant_id,
            "resend",
            "queued",
        )
        assert operation["intent"] == {"passId": pass_id, "patch": {}}
    # Tried again only once the delay has passed again (Google may be refusing it for a while).
    assert sweep(now + timedelta(minutes=1)) == 0
    # ...and then the pass changed five minutes before the first sweep is owed long enough too.
    assert sweep(now + OWED_FOR + timedelta(seconds=1)) == 3


def test_two_sweeps_at_once_resend_each_pass_once(db: Any) -> None:
    tenant = f"t-{secrets.token_hex(4)}"
    owed = {
        _pass(db, tenant=tenant, age=timedelta(hours=2), googlePending=True, googleHolder="saved")
        for _ in range(6)
    }
    sent: list[str] = []
    now = utcnow()

    def enqueue_and_race(tenant_id: str, correlation_id: str, pass_id: str) -> None:
        sent.append(pass_id)
        if len(sent) == 1:  # a second sweep runs while the first is half-way
            resend_owed(
                db, [tenant], lambda *args: sent.append(args[2]), now=now, owed_for=OWED_FOR
            )

    resend_owed(db, [tenant], enqueue_and_race, now=now, owed_for=OWED_FOR)
    assert sorted(sent) == sorted(owed)


def test_a_sweep_stops_when_the_job_queue_is_down(db: Any) -> None:
    tenant = f"t-{secrets.token_hex(4)}"
    for _ in range(3):
        _pass(db, tenant=tenant, age=timedelta(hours=2), applePushPending=True)

    def queue_down(tenant_id: str, correlation_id: str, pass_id: str) -> None:
        raise EnqueueError("connection refused")

    now = utcnow()
    assert resend_owed(db, [tenant], queue_down, now=now, owed_for=OWED_FOR) == 0
    failed = list(db.operations.find({"tenant": tenant, "kind": "resend"}))
    assert [operation["status"] for operation in failed] == ["failed"]  # stopped at the first
    # The claim is given back: the next sweep, once the queue is up, takes all three.
    sent: list[str] = []

    def queue_up(tenant_id: str, correlation_id: str, pass_id: str) -> None:
        sent.append(pass_id)

    later = now + timedelta(minutes=1)
    assert resend_owed(db, [tenant], queue_up, now=later, owed_for=OWED_FOR) == 3


def test_a_pass_changed_after_the_listing_is_left_to_its_own_job(db: Any) -> None:
    tenant = f"t-{secrets.token_hex(4)}"
    changed = _pass(
        db, tenant=tenant, age=timedelta(hours=2), googlePending=True, googleHolder="saved"
    )
    still_owed = _pass(
        db, tenant=tenant, age=timedelta(hours=3), googlePending=True, googleHolder="saved"
    )
    sent: list[str] = []

    def enqueue(tenant_id: str, correlation_id: str, pass_id: str) -> None:
        sent.append(pass_id)
        # Meanwhile an update writes the other pass (its job will deliver it).
        db.passes.update_one({"_id": changed}, {"$set": {"updatedAt": utcnow()}})

    assert resend_owed(db, [tenant], enqueue, now=utcnow(), owed_for=OWED_FOR) == 1
    assert sent == [still_owed]
