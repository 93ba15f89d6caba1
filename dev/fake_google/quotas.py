"""The two limits Google Wallet enforces that a client must respect.

- requests per second per issuer, over any sliding one-second window;
- notifying messages (``TEXT_AND_NOTIFY``) per object over a rolling 24 hours.

Not thread-safe on their own: the state's lock guards them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

NOTIFICATION_PERIOD_S = 24 * 3600


class SlidingWindow:
    """Times of the events of the last ``span`` seconds."""

    def __init__(self, span: float) -> None:
        self.span = span
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        cutoff = now - self.span
        while self._times and self._times[0] <= cutoff:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> None:
        self._times.append(now)


@dataclass
class IssuerTraffic:
    seen: SlidingWindow = field(default_factory=lambda: SlidingWindow(1.0))
    accepted: SlidingWindow = field(default_factory=lambda: SlidingWindow(1.0))
    requests: int = 0
    max_window: int = 0  # most requests (accepted or not) in any one-second window
    rate_limited: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "max_window": self.max_window,
            "rate_limited": self.rate_limited,
        }


class RateQuota:
    """Requests per issuer per second; what a refused request costs is only the refusal."""

    def __init__(self) -> None:
        self.issuers: dict[str, IssuerTraffic] = {}

    def admit(self, issuer: str, now: float, limit: int) -> bool:
        """Record a request at ``now`` (monotonic seconds); False if over ``limit``
        (0 or less: unlimited)."""
        traffic = self.issuers.setdefault(issuer, IssuerTraffic())
        traffic.requests += 1
        traffic.seen.add(now)
        traffic.max_window = max(traffic.max_window, traffic.seen.count(now))
        if limit > 0 and traffic.accepted.count(now) >= limit:
            traffic.rate_limited += 1
            return False
        traffic.accepted.add(now)
        return True

    def to_json(self) -> dict[str, Any]:
        return {issuer: traffic.to_json() for issuer, traffic in sorted(self.issuers.items())}


class NotificationQuota:
    """Notifying messages per object over a rolling 24 hours."""

    def __init__(self) -> None:
        self._objects: dict[str, SlidingWindow] = {}

    def admit(self, resource_id: str, now: float, limit: int) -> bool:
        """Count a notifying message at ``now`` (wall seconds) unless ``limit`` is reached."""
        window = self._objects.setdefault(resource_id, SlidingWindow(NOTIFICATION_PERIOD_S))
        if window.count(now) >= limit:
            return False
        window.add(now)
        return True
