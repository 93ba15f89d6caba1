"""The pass.json keys passwire writes from a pass's lifecycle (pass_json.STATUS_KEYS).

Wallet shows a pass with `voided: true` as no longer usable and one past its
`expirationDate` as expired; it greys either out and stops suggesting it. An active pass
never carries `voided`; a pass without an expiration date carries no `expirationDate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.lifecycle.transitions import BLOCKED, EXPIRED, REDEEMED, VOIDED, PassState

# No longer usable: Wallet shows them voided.
VOID_IN_WALLET = frozenset({REDEEMED, EXPIRED, BLOCKED, VOIDED})


def w3c_date(value: datetime) -> str:
    """Wallet's date format (W3C, seconds, UTC): 2025-01-31T09:00:00Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_keys(document: Mapping[str, Any]) -> dict[str, Any]:
    """`voided` and `expirationDate` for `document`'s pass.json (empty for most passes).

    An expired pass shows when it expired: its expirationDate, or the moment it was set
    expired when that came first (or when it had none)."""
    state = PassState.of(document)
    keys: dict[str, Any] = {}
    if state.status in VOID_IN_WALLET:
        keys["voided"] = True
    shown = state.expiration_date
    changed_at = state.status_changed_at
    if state.status == EXPIRED and changed_at is not None and (shown is None or changed_at < shown):
        shown = changed_at
    if shown is not None:
        keys["expirationDate"] = w3c_date(shown)
    return keys
