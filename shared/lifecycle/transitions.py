"""Pass statuses and the changes allowed between them. Pure: no I/O, `now` is given.

    active   → redeemed | expired | blocked | voided
    blocked  → active | voided
    expired  → active (when its expirationDate is then unset or in the future) | voided
    redeemed → voided
    voided   → nothing: a voided pass never changes again

An `active` pass whose expirationDate has passed counts as expired (the periodic sweep has
just not reached it yet): it cannot be redeemed, and setting it `expired` is what the sweep
would do. The expirationDate may be changed on its own, except on a voided pass; an active
pass's expirationDate must lie in the future.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final

ACTIVE: Final = "active"
REDEEMED: Final = "redeemed"
EXPIRED: Final = "expired"
BLOCKED: Final = "blocked"
VOIDED: Final = "voided"
STATUSES: Final = (ACTIVE, REDEEMED, EXPIRED, BLOCKED, VOIDED)

ALLOWED: Final[Mapping[str, frozenset[str]]] = {
    ACTIVE: frozenset({REDEEMED, EXPIRED, BLOCKED, VOIDED}),
    BLOCKED: frozenset({ACTIVE, VOIDED}),
    EXPIRED: frozenset({ACTIVE, VOIDED}),
    REDEEMED: frozenset({VOIDED}),
    VOIDED: frozenset(),
}


class Keep(Enum):
    """The request leaves the expirationDate as it is (absent, unlike null which clears it)."""

    EXPIRATION = "keep"


KEEP: Final = Keep.EXPIRATION


class Refused(Exception):
    """The change conflicts with the pass's current state (HTTP 409); `field` is at fault,
    `code` tells refusals apart (invalid_transition, insufficient_balance...)."""

    def __init__(self, field: str, reason: str, message: str, *, code: str = "conflict") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message = message
        self.code = code


class Invalid(Exception):
    """The request asks for an impossible state whatever the pass (HTTP 422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PassState:
    """What the rules read from a stored pass."""

    status: str
    expiration_date: datetime | None
    status_changed_at: datetime | None = None

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> PassState:
        # Passes stored before statuses existed carry none: they are active.
        return cls(
            status=document.get("status") or ACTIVE,
            expiration_date=document.get("expirationDate"),
            status_changed_at=document.get("statusChangedAt"),
        )

    def effective_status(self, now: datetime) -> str:
        lapsed = self.expiration_date is not None and self.expiration_date <= now
        return EXPIRED if self.status == ACTIVE and lapsed else self.status


@dataclass(frozen=True)
class Change:
    """The state to store: `status_changed` tells whether statusChangedAt moves."""

    status: str
    expiration_date: datetime | None
    status_changed: bool


def _since(state: PassState) -> str:
    when = state.status_changed_at
    return f" since {when.isoformat()}" if when is not None else ""


def refuse_transition(state: PassState, current: str, target: str) -> Refused:
    """The 409 for `current` → `target`, naming the current status and what it allows."""
    if current == VOIDED:
        reason = "the pass is voided; a voided pass never changes"
    elif current == target:
        reason = f"the pass is already {current}{_since(state)}"
    else:
        allowed = ", ".join(sorted(ALLOWED[current])) or "nothing"
        reason = f"the pass is {current}{_since(state)}; from {current} it may become {allowed}"
    message = f"The pass cannot become {target}: it is {current}."
    return Refused("status", reason, message, code="invalid_transition")


def plan_change(
    state: PassState,
    *,
    status: str | None,
    expiration_date: datetime | Keep | None = KEEP,
    now: datetime,
) -> Change | None:
    """The state a `PUT …/status` asks for, or None when it is the state already stored.
    Raises Refused (409) or Invalid (422)."""
    target = status or state.status
    new_date = state.expiration_date if expiration_date is KEEP else expiration_date
    if target == state.status and new_date == state.expiration_date:
        return None
    current = state.effective_status(now)
    if state.status == VOIDED:
        raise refuse_transition(state, VOIDED, target)
    # Setting `expired` on a lapsed active pass is the sweep's own change, made early.
    if target != state.status and target not in ALLOWED[current] and target != current:
        raise refuse_transition(state, current, target)
    if target == ACTIVE and new_date is not None and new_date <= now:
        if expiration_date is KEEP:
            raise Refused(
                "expirationDate",
                f"the pass's expirationDate {new_date.isoformat()} has passed; give a future "
                "expirationDate, or null, to make it active",
                "The pass cannot become active: its expirationDate has passed.",
                code="invalid_transition",
            )
        raise Invalid("expirationDate", "must be in the future for an active pass")
    return Change(target, new_date, status_changed=target != state.status)


def plan_redeem(state: PassState, now: datetime) -> Change:
    """Redeeming: only an active pass (not past its expirationDate) may be redeemed.
    Raises Refused."""
    current = state.effective_status(now)
    if current != ACTIVE:
        raise refuse_transition(state, current, REDEEMED)
    return Change(REDEEMED, state.expiration_date, status_changed=True)
