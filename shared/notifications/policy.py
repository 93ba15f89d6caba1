"""`decide`: the one per-pass decision of how a message reaches its holder.

Pure: the pass, the message, the tenant's policy, the time and the alerts already spent in
(`BudgetState`, read from Redis by budgets.peek) give the decision. The real campaign batch
and its dry run call it alike; only the real run then spends the budget (budgets.consume),
which may still turn an alert silent when another worker spent the last one first.

In order:
1. consent: a marketing message alerts only a holder whose marketing consent is granted;
2. quiet hours: inside the window (the holder's time zone when the pass names one in
   `metadata.timeZone`), the alert is deferred to the window's end, never dropped;
3. budgets: each wallet alerts while the pass has alerts left for the rolling 24 h.
A message that does not alert is still delivered, silently (its data update goes at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.notifications import BUDGET, CONSENT, DEFAULT_KIND, MARKETING, QUIET_HOURS
from shared.notifications.config import (
    GOOGLE_ALERTS_PER_DAY,
    NotificationPolicy,
    QuietHours,
    parse_quiet_hours,
    time_zone,
)
from shared.notifications.consent import marketing_granted
from shared.passes.google_versions import google_holder

HOLDER_TIME_ZONE = "timeZone"  # the metadata key naming the holder's IANA time zone


@dataclass(frozen=True)
class Notice:
    """What the decision needs of a message: its kind and the campaign's quiet hours
    (`own_quiet_hours`: the campaign chose them, a window or none at all)."""

    kind: str = DEFAULT_KIND
    quiet_hours: QuietHours | None = None
    own_quiet_hours: bool = False

    def window(self, policy: NotificationPolicy) -> QuietHours | None:
        """A campaign's own quiet hours hold whatever its kind; the tenant's hold marketing
        messages (a transactional one, a gate change, must not wait for the morning)."""
        if self.own_quiet_hours:
            return self.quiet_hours
        return policy.quiet_hours if self.kind == MARKETING else None


def notice_of(operation: Mapping[str, Any]) -> Notice:
    """The notice of a campaign operation (its `message` and optional `quietHours`)."""
    message = operation.get("message") or {}
    own = "quietHours" in operation
    raw = operation.get("quietHours")
    return Notice(
        kind=message.get("kind") or DEFAULT_KIND,
        quiet_hours=parse_quiet_hours(raw) if raw is not None else None,
        own_quiet_hours=own,
    )


@dataclass(frozen=True)
class BudgetState:
    """Alerts already spent in the rolling 24 h: by the pass on Apple, by its Google object."""

    apple_spent: int = 0
    google_spent: int = 0


@dataclass(frozen=True)
class Decision:
    alert_apple: bool
    alert_google: bool
    # Why a wallet the pass has goes silent (or, for quietHours, waits): consent, budget,
    # quietHours; None when every wallet alerts.
    suppressed_reason: str | None = None
    # When the held-back alerts go out (quiet hours); the message waits until then.
    deferred_until: datetime | None = None

    @property
    def deferred(self) -> bool:
        return self.deferred_until is not None


def has_apple(document: Mapping[str, Any]) -> bool:
    return bool(document.get("apple"))


def has_google(document: Mapping[str, Any]) -> bool:
    # Someone may hold it in Google Wallet: an object nobody saved shows no message, so it
    # spends no alert and is held back for no one (shared/passes/google_versions.py).
    return bool(document.get("google")) and google_holder(document) is not None


def holder_zone(document: Mapping[str, Any], window: QuietHours, policy: NotificationPolicy) -> Any:
    """The holder's zone when the pass names a valid one, else the window's, else the tenant's."""
    named = (document.get("metadata") or {}).get(HOLDER_TIME_ZONE)
    zone = time_zone(named) if isinstance(named, str) else None
    return zone or time_zone(window.zone or policy.time_zone) or time_zone("UTC")


def decide(
    document: Mapping[str, Any],
    notice: Notice,
    policy: NotificationPolicy,
    now: datetime,
    budget: BudgetState,
) -> Decision:
    """How the message reaches this pass's holder on each wallet it has."""
    apple, google = has_apple(document), has_google(document)
    if notice.kind == MARKETING and not marketing_granted(document):
        return Decision(False, False, CONSENT if apple or google else None)
    window = notice.window(policy)
    if window is not None and (apple or google):
        until = window.ends_at(now, holder_zone(document, window, policy))
        if until is not None:
            return Decision(False, False, QUIET_HOURS, deferred_until=until)
    alert_apple = apple and budget.apple_spent < policy.apple_limit(document["passType"])
    alert_google = google and budget.google_spent < GOOGLE_ALERTS_PER_DAY
    over = (apple and not alert_apple) or (google and not alert_google)
    return Decision(alert_apple, alert_google, BUDGET if over else None)


def held_back(decision: Decision, *, apple: bool, google: bool) -> Decision:
    """`decision` with the wallets that lost the race for the last alert made silent."""
    alert_apple, alert_google = decision.alert_apple and apple, decision.alert_google and google
    if (alert_apple, alert_google) == (decision.alert_apple, decision.alert_google):
        return decision
    return Decision(alert_apple, alert_google, BUDGET)
