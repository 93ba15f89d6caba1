"""Lifecycle changes against the real MongoDB (wire server or MONGODB_URI), with the races
forced: every thread reads the pass, then all write at once. Only the conditional write
keeps two tills from both redeeming, debits from overdrawing, a reference from counting
twice. And the expiry sweep, with its job queue standing in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.jobs import UPDATE_PASS, EnqueueError
from shared.lifecycle import balances, status_changes
from shared.lifecycle.config import BalanceConfig
from shared.lifecycle.expiry import expire_due
from shared.lifecycle.transitions import Refused

T = TypeVar("T")
EUROS = BalanceConfig("money", "EUR")


def insert(db: Any, tenant: str = "demo", **fields: Any) -> str:
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": tenant, "passType": "voucher", "status": "active",
         "version": 1, "createdAt": now, "updatedAt": now, **fields}
    )  # fmt: skip
    return pass_id


def all_at_once(count: int, read: Callable[[], Any], write: Callable[[Any], T]) -> list[Any]:
    """Each of `count` threads reads, waits for every other read, then writes; the results
    (or the exceptions raised)."""
    barrier = threading.Barrier(count)

    def one(_: int) -> Any:
        seen = read()
        barrier.wait()
        try:
            return write(seen)
        except Exception as exc:  # collected, not raised: the test counts them
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_tills_that_all_saw_it_active_redeem_it_once(db: Any) -> None:
    pass_id = insert(db)
    results = all_at_once(
        20,
        lambda: db.passes.find_one({"_id": pass_id}),
        lambda seen: status_changes.redeem(db, "demo", seen, now=utcnow()),
    )
    won = [r for r in results if isinstance(r, status_changes.StatusChanged)]
    lost = [r for r in results if isinstance(r, Refused)]
    assert len(won) == 1 and len(lost) == 19, results
    assert {r.reason.split(" since ")[0] for r in lost} == {"the pass is already redeemed"}
    assert db.passes.find_one({"_id": pass_id})["version"] == 2


def test_a_change_decided_on_a_stale_read_is_decided_again(db: Any) -> None:
    pass_id = insert(db)
    stale = db.passes.find_one({"_id": pass_id})
    blocked = status_changes.change_status(db, "demo", stale, status="blocked", now=utcnow())
    assert blocked is not None
    # Active → expired was allowed on what this caller read; blocked → expired is not.
    with pytest.raises(Refused) as refused:
        status_changes.change_status(db, "demo", stale, status="expired", now=utcnow())
    assert refused.value.reason.startswith("the pass is blocked")
    assert db.passes.find_one({"_id": pass_id})["status"] == "blocked"


def test_an_undo_restores_the_previous_state_unless_changed_again(db: Any) -> None:
    expires = utcnow() + timedelta(days=2)
    pass_id = insert(db, expirationDate=expires)
    document = db.passes.find_one({"_id": pass_id})
    changed = status_changes.change_status(
        db, "demo", document, status="voided", expiration_date=None, now=utcnow()
    )
    assert changed is not None
    assert status_changes.undo(db, "demo", pass_id, changed)
    restored = db.passes.find_one({"_id": pass_id})
    assert (restored["status"], restored["expirationDate"]) == ("active", expires)
    assert "statusChangedAt" not in restored
    assert not status_changes.undo(db, "demo", pass_id, changed)  # moved on since


def test_concurrent_debits_never_overdraw(db: Any) -> None:
    pass_id = insert(db, passType="giftcard", balance={"amount": 10, "unit": "money"})

    def debit(_: Any) -> balances.Balance:
        return balances.apply_delta(
            db, "demo", pass_id, EUROS, delta=-1, reference=None, now=utcnow()
        )

    results = all_at_once(20, lambda: None, debit)
    assert sum(isinstance(r, balances.Balance) for r in results) == 10
    assert {r.field for r in results if isinstance(r, Refused)} == {"delta"}
    assert db.passes.find_one({"_id": pass_id})["balance"]["amount"] == 0


def test_one_reference_sent_by_many_counts_once(db: Any) -> None:
    pass_id = insert(db, passType="giftcard")

    def credit(_: Any) -> balances.Balance:
        return balances.apply_delta(
            db, "demo", pass_id, EUROS, delta=5, reference="order-1", now=utcnow()
        )

    results = all_at_once(20, lambda: None, credit)
    assert sorted(r.applied for r in results) == [False] * 19 + [True]
    assert {r.amount for r in results} == {5}
    stored = db.passes.find_one({"_id": pass_id})["balance"]
    assert stored["amount"] == 5 and [a["reference"] for a in stored["applied"]] == ["order-1"]


def test_only_the_last_references_are_remembered(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(balances, "REMEMBERED_REFERENCES", 3)
    pass_id = insert(db, passType="giftcard")
    for index in range(5):
        balances.apply_delta(
            db, "demo", pass_id, EUROS, delta=1, reference=f"r{index}", now=utcnow()
        )
    stored = db.passes.find_one({"_id": pass_id})["balance"]
    assert [entry["reference"] for entry in stored["applied"]] == ["r2", "r3", "r4"]


class Enqueued:
    def __init__(self, fail: bool = False) -> None:
        self.jobs: list[tuple[str, str, str]] = []
        self.fail = fail

    def __call__(self, tenant_id: str, correlation_id: str, pass_id: str) -> None:
        if self.fail:
            raise EnqueueError(f"could not enqueue {UPDATE_PASS}: ConnectionError")
        self.jobs.append((tenant_id, correlation_id, pass_id))


def test_the_sweep_expires_what_is_due_once(db: Any) -> None:
    now = utcnow()
    due = insert(db, tenant="sweep-a", expirationDate=now - timedelta(seconds=1))
    later = insert(db, tenant="sweep-a", expirationDate=now + timedelta(hours=1))
    blocked = insert(db, tenant="sweep-a", status="blocked", expirationDate=now)
    elsewhere = insert(db, tenant="sweep-b", expirationDate=now)
    enqueued = Enqueued()

    assert expire_due(db, ["sweep-a"], enqueued, now=now) == 1
    [(tenant_id, correlation_id, pass_id)] = enqueued.jobs
    assert (tenant_id, pass_id) == ("sweep-a", due)
    operation = db.operations.find_one({"_id": correlation_id})
    assert operation["kind"] == "expire" and operation["tenant"] == "sweep-a"
    assert operation["intent"] == {"passId": due, "patch": {}}
    expired = db.passes.find_one({"_id": due})
    assert (expired["status"], expired["statusChangedAt"]) == ("expired", now)
    statuses = {p: db.passes.find_one({"_id": p})["status"] for p in (later, blocked, elsewhere)}
    assert statuses == {later: "active", blocked: "blocked", elsewhere: "active"}

    assert expire_due(db, ["sweep-a"], enqueued, now=now) == 0  # nothing twice
    assert len(enqueued.jobs) == 1


def test_the_sweep_gives_a_pass_back_when_the_queue_is_down(db: Any) -> None:
    now = utcnow()
    due = insert(db, tenant="sweep-c", expirationDate=now)
    assert expire_due(db, ["sweep-c"], Enqueued(fail=True), now=now) == 0
    assert db.passes.find_one({"_id": due})["status"] == "active"
    failed = db.operations.find_one({"tenant": "sweep-c", "kind": "expire"})
    assert failed["status"] == "failed"
    # The next run, with the queue back, does it.
    enqueued = Enqueued()
    assert expire_due(db, ["sweep-c"], enqueued, now=now) == 1
    assert [job[2] for job in enqueued.jobs] == [due]
