"""Points and money balances passwire keeps for a pass.

A change is one `$inc` of a signed delta, guarded in the same write by the pass being
active, the floor (no debit below zero unless the pass type allows it) and the caller's
reference not having been applied yet: no read-modify-write, so 50 concurrent +1 calls add
50, and a retried call with the same reference changes nothing. The last
REMEMBERED_REFERENCES references of a pass are remembered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.lifecycle.config import POINTS, BalanceConfig
from shared.lifecycle.status_changes import PassGone
from shared.lifecycle.transitions import ACTIVE, Invalid, PassState, Refused
from shared.repositories import lifecycle as repo

if TYPE_CHECKING:
    from pymongo.database import Database

MAX_DELTA = 10**9
MAX_REFERENCE_LENGTH = 128
REMEMBERED_REFERENCES = 500
_ATTEMPTS = 3


@dataclass(frozen=True)
class Balance:
    amount: int
    unit: str
    currency: str | None
    applied: bool  # False: the reference was applied before; nothing changed now

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"amount": self.amount, "unit": self.unit}
        if self.currency is not None:
            shown["currency"] = self.currency
        return shown


def no_balance(pass_type_id: str) -> Refused:
    return Refused(
        "passType",
        f"pass type '{pass_type_id}' keeps no balance (no [balance] in its passtype.toml)",
        "This pass keeps no balance.",
        code="no_balance",
    )


def check_currency(config: BalanceConfig, currency: str | None) -> None:
    """A given currency must be the balance's own. Raises Invalid."""
    if currency is None:
        return
    if config.unit == POINTS:
        raise Invalid("currency", "this pass's balance is in points, which have no currency")
    if currency != config.currency:
        raise Invalid("currency", f"this pass's balance is in {config.currency}")


def _balance(document: Mapping[str, Any], config: BalanceConfig, *, applied: bool) -> Balance:
    amount = int((document.get("balance") or {}).get("amount", 0))
    return Balance(amount, config.unit, config.currency, applied)


def _applied_before(state: Mapping[str, Any], reference: str) -> Mapping[str, Any] | None:
    for entry in (state.get("balance") or {}).get("applied") or []:
        if entry.get("reference") == reference:
            found: Mapping[str, Any] = entry
            return found
    return None


def _why_refused(
    state: Mapping[str, Any], config: BalanceConfig, delta: int, now: datetime
) -> Refused | None:
    current = PassState.of(state).effective_status(now)
    if current != ACTIVE:
        return Refused(
            "status",
            f"the pass is {current}; only an active pass's balance changes",
            f"The balance of a {current} pass does not change.",
            code="invalid_transition",
        )
    amount = _balance(state, config, applied=False).amount
    if config.minimum is not None and amount + delta < config.minimum:
        return Refused(
            "delta",
            f"the balance is {amount}; it may not fall below {config.minimum}",
            "The balance is too low for this debit.",
            code="insufficient_balance",
        )
    return None


def apply_delta(
    db: Database[Any],
    tenant_id: str,
    pass_id: str,
    config: BalanceConfig,
    *,
    delta: int,
    reference: str | None,
    now: datetime,
) -> Balance:
    """Add `delta`; the balance after (or as it is, for a reference applied before).
    Raises Refused (not active, below the floor), Invalid (the reference was applied with
    another delta) or PassGone."""
    for _ in range(_ATTEMPTS):
        stored = repo.apply_balance_delta(
            db,
            tenant_id,
            pass_id,
            delta=delta,
            reference=reference,
            minimum=config.minimum,
            unit=config.unit,
            currency=config.currency,
            now=now,
            remembered=REMEMBERED_REFERENCES,
        )
        if stored is not None:
            return _balance(stored, config, applied=True)
        state = repo.pass_state(db, tenant_id, pass_id)
        if state is None:
            raise PassGone(pass_id)
        before = _applied_before(state, reference) if reference is not None else None
        if before is not None:
            if before.get("delta") != delta:
                raise Invalid("reference", f"was applied before with delta {before.get('delta')}")
            return _balance(state, config, applied=False)
        refused = _why_refused(state, config, delta, now)
        if refused is not None:
            raise refused
        # Nothing explains the refusal any more: the pass changed in between; try again.
    raise Refused("delta", "the pass kept changing; try again", "The pass kept changing.")


def undo(
    db: Database[Any], tenant_id: str, pass_id: str, *, delta: int, reference: str | None
) -> bool:
    """Take an applied delta back (its refresh could not be queued)."""
    return repo.revert_balance_delta(db, tenant_id, pass_id, delta=delta, reference=reference)
