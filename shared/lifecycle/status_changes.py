"""Changing a pass's status or expirationDate, and redeeming it: decided on the state just
read, stored only if that state is still the stored one (compare-and-set on status and
expirationDate), so of two concurrent redemptions exactly one wins and the other is told
why it lost. A lost race is decided again on the new state, a few times at most."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.infra.clock import utcnow
from shared.lifecycle.transitions import (
    KEEP,
    Change,
    Keep,
    PassState,
    Refused,
    plan_change,
    plan_redeem,
)
from shared.repositories import lifecycle as repo
from shared.stats import counting

if TYPE_CHECKING:
    from pymongo.database import Database

_ATTEMPTS = 3

Document = dict[str, Any]


class PassGone(Exception):
    """The pass was deleted while it was being changed."""


@dataclass(frozen=True)
class StatusChanged:
    """The pass's lifecycle fields after the change, and before it (to undo it)."""

    after: Document
    before: Mapping[str, Any]
    pass_type: str = ""  # for statistics, which count by pass type

    @property
    def status(self) -> str:
        return str(self.after["status"])

    @property
    def expiration_date(self) -> datetime | None:
        value: datetime | None = self.after.get("expirationDate")
        return value


def _decide_and_store(
    db: Database[Any],
    tenant_id: str,
    document: Mapping[str, Any],
    plan: Callable[[PassState], Change | None],
    now: datetime,
) -> StatusChanged | None:
    pass_id = str(document["_id"])
    current: Mapping[str, Any] | None = document
    for _ in range(_ATTEMPTS):
        if current is None:
            raise PassGone(pass_id)
        change = plan(PassState.of(current))
        if change is None:
            return None
        before = {name: current.get(name) for name in repo.LIFECYCLE_FIELDS}
        after = repo.change_status(
            db,
            tenant_id,
            pass_id,
            expected=before,
            status=change.status,
            expiration_date=change.expiration_date,
            status_changed=change.status_changed,
            now=now,
        )
        if after is not None:
            pass_type = str(document.get("passType"))
            counting.status_changed(
                db, tenant_id, pass_type, before=before["status"], after=after["status"], now=now
            )
            return StatusChanged(after, before, pass_type)
        current = repo.pass_state(db, tenant_id, pass_id)
    raise Refused(
        "status", "the pass kept changing; try again", "The pass kept changing; try again."
    )


def change_status(
    db: Database[Any],
    tenant_id: str,
    document: Mapping[str, Any],
    *,
    status: str | None,
    expiration_date: datetime | Keep | None = KEEP,
    now: datetime,
) -> StatusChanged | None:
    """Apply a `PUT …/status`; None when the pass already is in that state. Raises Refused,
    Invalid (transitions.py) or PassGone."""

    def plan(state: PassState) -> Change | None:
        return plan_change(state, status=status, expiration_date=expiration_date, now=now)

    return _decide_and_store(db, tenant_id, document, plan, now)


def redeem(
    db: Database[Any], tenant_id: str, document: Mapping[str, Any], *, now: datetime
) -> StatusChanged:
    """Redeem an active pass. Raises Refused (not active: already redeemed, expired...)."""
    changed = _decide_and_store(db, tenant_id, document, lambda s: plan_redeem(s, now), now)
    assert changed is not None  # plan_redeem always asks for a change
    return changed


def undo(db: Database[Any], tenant_id: str, pass_id: str, changed: StatusChanged) -> bool:
    """Put the previous status back (its refresh could not be queued), unless the pass was
    changed again since."""
    restored = repo.restore_status(
        db, tenant_id, pass_id, version=int(changed.after["version"]), previous=changed.before
    )
    if restored:
        counting.status_restored(
            db, tenant_id, changed.pass_type, undone=changed.status, now=utcnow()
        )
    return restored


def check_redeemable(pass_type_id: str, redeemable: bool | None) -> None:
    """Raises Refused unless the pass type lets its passes be redeemed (None: the pass type
    is no longer configured)."""
    if redeemable:
        return
    reason = (
        f"pass type '{pass_type_id}' is no longer configured"
        if redeemable is None
        else f"pass type '{pass_type_id}' is not redeemable (set redeemable = true in its "
        "passtype.toml)"
    )
    raise Refused("passType", reason, "This pass cannot be redeemed.", code="not_redeemable")
