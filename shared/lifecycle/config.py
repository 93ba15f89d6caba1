"""What a pass type's passtype.toml says about its lifecycle: whether its passes can be
redeemed, and the balance passwire keeps for them.

    redeemable = true          # default: true for kind coupon and eventTicket, else false

    [balance]                  # absent: the pass type keeps no balance
    unit = "money"             # or "points"
    currency = "EUR"           # ISO 4217, money only; amounts are in minor units (cents)
    allow_negative = false     # default false: a debit below zero is refused

A balance that belongs to the brand's own systems is external data (`[[providers]]`), not
this: passwire keeps only the balances it is the record of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.lifecycle.currencies import CURRENCIES

# Single-use by nature: scanning one at the till or the gate uses it up.
REDEEMABLE_KINDS: Final = frozenset({"coupon", "eventTicket"})
POINTS: Final = "points"
MONEY: Final = "money"
UNITS: Final = (POINTS, MONEY)
_BALANCE_KEYS: Final = ("unit", "currency", "allow_negative")


class LifecycleConfigError(ValueError):
    """passtype.toml's `redeemable` or `[balance]` is invalid; the message names the key."""


@dataclass(frozen=True)
class BalanceConfig:
    unit: str  # points or money
    currency: str | None = None  # money only
    allow_negative: bool = False

    @property
    def minimum(self) -> int | None:
        """The lowest amount a debit may leave, None when any is allowed."""
        return None if self.allow_negative else 0


def is_redeemable(kind: str, configured: object, *, source: str) -> bool:
    """`redeemable` as configured, else the default for the pass type's kind."""
    if configured is None:
        return kind in REDEEMABLE_KINDS
    if not isinstance(configured, bool):
        raise LifecycleConfigError(f"{source}: redeemable: must be true or false")
    return configured


def parse_balance(table: object, *, source: str) -> BalanceConfig | None:
    """The [balance] table (None when absent). Raises LifecycleConfigError listing every
    problem."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise LifecycleConfigError(f"{source}: [balance]: must be a table")
    problems = [
        f"[balance].{key}: unknown key (expected {', '.join(_BALANCE_KEYS)})"
        for key in table
        if key not in _BALANCE_KEYS
    ]
    unit, currency = table.get("unit"), table.get("currency")
    allow_negative = table.get("allow_negative", False)
    if unit not in UNITS:
        problems.append(f"[balance].unit: must be {' or '.join(repr(u) for u in UNITS)}")
    if unit == MONEY and currency is None:
        problems.append("[balance].currency: is required for a money balance")
    elif unit == MONEY and currency not in CURRENCIES:
        problems.append(f"[balance].currency: {currency!r} is not an ISO 4217 currency code")
    elif unit == POINTS and currency is not None:
        problems.append("[balance].currency: only a money balance has a currency")
    if not isinstance(allow_negative, bool):
        problems.append("[balance].allow_negative: must be true or false")
    if problems:
        raise LifecycleConfigError(f"{source}: " + "; ".join(problems))
    return BalanceConfig(
        unit=str(unit),
        currency=str(currency) if unit == MONEY else None,
        allow_negative=bool(allow_negative),
    )
