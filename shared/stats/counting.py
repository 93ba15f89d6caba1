"""The write side of statistics: one call at each place a pass's population changes.

Each call follows the pass write it counts, in the same step of the same code path, as one
`$inc` per document (shared/repositories/stats.py), so concurrent writers add up exactly.
MongoDB offers no transaction across the two writes here: a process that dies between the
pass write and its count leaves the counters off by that one change. The reconcile sweep
(reconcile.py) finds such a drift by counting the passes, and repairs it once it has seen
the same drift twice in a row (a write in flight is not a drift).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.repositories import stats as repo

WALLETS = ("apple", "google")
# Timeline events (GET /stats/timeline), and the per-wallet install events the dashboard draws.
CREATED = "created"
INSTALLED = "installed"
UNINSTALLED = "uninstalled"
REDEEMED = "redeemed"
NOTIFIED = "notified"
EVENTS = (CREATED, INSTALLED, UNINSTALLED, REDEEMED, NOTIFIED)
BY_PASS_TYPE = "passType"
# Attributed installs (shared/attribution.py) only: the other events have no link behind them.
BY_MEDIUM = "medium"
BY_TAG = "tag"
NO_MEDIUM = "(none)"
# Operations not bound to one pass type (a campaign over a segment of several) count here.
ANY_PASS_TYPE = "*"
_REDEEMED_STATUS = "redeemed"


def day_of(moment: datetime) -> str:
    return moment.date().isoformat()


def installed_in(document: Mapping[str, Any], wallet: str) -> bool:
    """As the passes collection says it: `providers.<wallet>` is an object while installed."""
    providers = document.get("providers") or {}
    return isinstance(providers.get(wallet), Mapping)


def _event(db: Any, tenant_id: str, pass_type: str, now: datetime, counts: dict[str, int]) -> None:
    repo.add_to_timeline(
        db, tenant_id, day=day_of(now), dimension=BY_PASS_TYPE, group=pass_type, counts=counts
    )


def pass_created(db: Any, document: Mapping[str, Any]) -> None:
    """A new pass document was inserted (not yet in any wallet)."""
    tenant_id, pass_type, now = document["tenant"], document["passType"], document["createdAt"]
    repo.add_to_counters(db, tenant_id, pass_type, {"total": 1}, now)
    _event(db, tenant_id, pass_type, now, {CREATED: 1})


def install_deltas(before: Mapping[str, Any], wallet: str, *, installed: bool) -> dict[str, int]:
    """How the counters move when `wallet` changes install state on a pass that was `before`
    (read atomically with the change, so a concurrent change on the other wallet is seen)."""
    sign = 1 if installed else -1
    others = [name for name in WALLETS if name != wallet]
    deltas = {wallet: sign}
    if not any(installed_in(before, other) for other in others):
        deltas["active"] = sign  # the pass enters (or leaves) its first (last) wallet
    return deltas


def install_changed(
    db: Any,
    tenant_id: str,
    before: Mapping[str, Any],
    wallet: str,
    *,
    installed: bool,
    now: datetime,
) -> None:
    """The pass `before` (as it was just before the change) entered or left `wallet`."""
    pass_type = str(before["passType"])
    repo.add_to_counters(
        db, tenant_id, pass_type, install_deltas(before, wallet, installed=installed), now
    )
    event = INSTALLED if installed else UNINSTALLED
    _event(db, tenant_id, pass_type, now, {event: 1, f"{event}_{wallet}": 1})


def install_attributed(
    db: Any, tenant_id: str, *, wallet: str, medium: str | None, tags: list[str], at: datetime
) -> None:
    """An install was credited to a link click (shared/attribution.py): an `installed` event
    of its medium (NO_MEDIUM without one) and of each of its tags."""
    counts = {INSTALLED: 1, f"{INSTALLED}_{wallet}": 1}
    day = day_of(at)
    repo.add_to_timeline(
        db, tenant_id, day=day, dimension=BY_MEDIUM, group=medium or NO_MEDIUM, counts=counts
    )
    for tag in dict.fromkeys(tags):
        repo.add_to_timeline(db, tenant_id, day=day, dimension=BY_TAG, group=tag, counts=counts)


def removal_deltas(document: Mapping[str, Any]) -> dict[str, int]:
    deltas = {"total": -1}
    held = [wallet for wallet in WALLETS if installed_in(document, wallet)]
    for wallet in held:
        deltas[wallet] = -1
    if held:
        deltas["active"] = -1
    return deltas


def pass_removed(db: Any, document: Mapping[str, Any], now: datetime) -> None:
    """The pass document `document` (as deleted) is gone."""
    tenant_id, pass_type = document["tenant"], document["passType"]
    repo.add_to_counters(db, tenant_id, pass_type, removal_deltas(document), now)


def status_changed(
    db: Any, tenant_id: str, pass_type: str, *, before: str | None, after: str, now: datetime
) -> None:
    """A stored status change: a redemption is an event of the timeline."""
    if after == _REDEEMED_STATUS and before != _REDEEMED_STATUS:
        _event(db, tenant_id, pass_type, now, {REDEEMED: 1})


def status_restored(db: Any, tenant_id: str, pass_type: str, *, undone: str, now: datetime) -> None:
    """A status change was undone (its refresh could not be queued): so is its event, on
    the day it is undone."""
    if undone == _REDEEMED_STATUS:
        _event(db, tenant_id, pass_type, now, {REDEEMED: -1})


def operation_pass_type(db: Any, operation: Mapping[str, Any]) -> str:
    """The pass type an operation is about: the one its intent or campaign segment names,
    the type of the one pass a message is for, else ANY_PASS_TYPE (a campaign over several)."""
    intent = operation.get("intent") or {}
    segment = intent.get("segment") or {}
    named = intent.get("passType") or segment.get("passType")
    if isinstance(named, str) and named:
        return named
    pass_types = list(segment.get("passTypes") or ())
    if len(pass_types) == 1:
        return str(pass_types[0])
    ids = list(segment.get("ids") or ())
    if len(ids) == 1:
        found = repo.pass_type_of(db, str(operation["tenant"]), str(ids[0]))
        if found is not None:
            return found
    return ANY_PASS_TYPE


def notified(
    db: Any, operation: Mapping[str, Any], delivery: Mapping[str, int] | None, now: datetime
) -> None:
    """A batch of `operation` was counted once with these delivery counters: alerts that
    reached a holder (`apple.notified`, `google.notified`) are `notified` events."""
    if not delivery:
        return
    sent = sum(int(delivery.get(f"{wallet}.notified", 0)) for wallet in WALLETS)
    if sent:
        pass_type = operation_pass_type(db, operation)
        _event(db, str(operation["tenant"]), pass_type, now, {NOTIFIED: sent})
