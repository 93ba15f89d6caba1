"""The operation counters a campaign's notification decisions add up to.

Per pass (not per device): `apple.notificationSuppressed` (the message was recorded on the
pass without an alert), `suppressed.<reason>` (the pass's holder was held back, on at least
one wallet, for consent, budget or quietHours) and `deferred` (alerts waiting for the end of
quiet hours; it goes down as they are sent). `apple.notified`, `google.notified` and
`google.notificationSuppressed` come from the deliveries themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.notifications.policy import Decision, has_apple


@dataclass
class NotificationCounts:
    apple_suppressed: int = 0
    deferred: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    def add(self, document: Mapping[str, Any], decision: Decision) -> None:
        if decision.suppressed_reason is not None:
            self.by_reason[decision.suppressed_reason] += 1
        if decision.deferred:
            self.deferred += 1
        elif has_apple(document) and not decision.alert_apple:
            self.apple_suppressed += 1

    def as_counters(self) -> dict[str, int]:
        counters = {f"suppressed.{reason}": n for reason, n in self.by_reason.items() if n}
        if self.apple_suppressed:
            counters["apple.notificationSuppressed"] = self.apple_suppressed
        if self.deferred:
            counters["deferred"] = self.deferred
        return counters
