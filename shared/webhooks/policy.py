"""When a webhook attempt is retried, and when to stop.

Delays after failed attempts 1, 2, 3, ...: base * (1, 6, 24, 120, 720, 720, ...) plus up to
10 % jitter; with the default base of 5 s: 5 s, 30 s, 2 min, 10 min, 1 h, 1 h, 1 h, and
attempt 8 is the last (about 3 h 15 min in all).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from config.settings import Settings

_MULTIPLIERS = (1, 6, 24, 120, 720)
_JITTER = 0.1
# Retry-After is honoured up to this long.
MAX_RETRY_AFTER_S = 3600

DELIVERED = "delivered"
FAILED = "failed"
RETRY = "retry"


def classify(status_code: int | None) -> str:
    """2xx delivered; 4xx but 408 and 429 failed for good; anything else (no answer, 3xx,
    408, 429, 5xx) worth retrying."""
    if status_code is None:
        return RETRY
    if 200 <= status_code < 300:
        return DELIVERED
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return FAILED
    return RETRY


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 5.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_attempts < 1:
            raise ValueError("webhook retry base must be > 0 and max attempts >= 1")

    def delay_after(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        multiplier = _MULTIPLIERS[min(attempt, len(_MULTIPLIERS)) - 1]
        delay = self.base_s * multiplier * (1 + random.uniform(0, _JITTER))  # noqa: S311
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
        return delay

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """PASSWIRE_WEBHOOK_RETRY_BASE_S and PASSWIRE_WEBHOOK_MAX_ATTEMPTS."""
        return cls(base_s=settings.webhook_retry_base_s, max_attempts=settings.webhook_max_attempts)
