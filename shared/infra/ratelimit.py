"""Limits shared by every worker process, kept in Redis.

Celery's `rate_limit` is per worker process; Google's quotas are per issuer for the whole
deployment, so the count must live in one place. Both limiters are Lua scripts: the check and
the record are one atomic step, and time is Redis's clock, so hosts with skewed clocks agree.

- `SlidingWindowLimiter`: at most `limit` calls in any window. A call is recorded when it is
  let through, just before it is sent; the window is a little longer than the quota's (the
  margin) because a request reaches the server a few milliseconds after it was recorded, and
  uneven delays must not pack `limit + 1` arrivals into one of the server's windows.
- `NotificationBudget`: at most `limit` notifying messages per object in a rolling period.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.commands.core import Script

# Returns 0 when the call may go now (and records it), else the milliseconds to wait.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local window_us = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - window_us)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now_us, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window_us / 1000) + 1000)
  return 0
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
return math.max(1, math.ceil((oldest + window_us - now_us) / 1000))
"""

# Returns 1 and records the message when the object still has budget, else 0.
_BUDGET = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local period_ms = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - period_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period_ms)
  return 1
end
return 0
"""


class RateLimitTimeout(Exception):
    """Waited longer than allowed for a slot."""


@dataclass(frozen=True)
class SlidingWindowLimiter:
    client: redis.Redis
    key: str
    limit: int
    window_s: float = 1.0
    margin_s: float = 0.1
    _script: Script = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_script", self.client.register_script(_SLIDING_WINDOW))

    def try_acquire(self) -> float:
        """0.0 when the call may go now (it is counted), else the seconds to wait first."""
        window_us = int((self.window_s + self.margin_s) * 1_000_000)
        args: list[int | str] = [window_us, self.limit, uuid.uuid4().hex]
        return int(self._script(keys=[self.key], args=args)) / 1000

    def acquire(
        self, *, max_wait_s: float = 300.0, sleep: Callable[[float], None] = time.sleep
    ) -> float:
        """Block until the call may go; returns the seconds waited."""
        waited = 0.0
        while (wait := self.try_acquire()) > 0:
            if waited + wait > max_wait_s:
                raise RateLimitTimeout(f"no slot for {self.key} within {max_wait_s:.0f} s")
            sleep(wait)
            waited += wait
        return waited


@dataclass(frozen=True)
class NotificationBudget:
    client: redis.Redis
    prefix: str
    limit: int = 3
    period_s: int = 24 * 3600
    _script: Script = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_script", self.client.register_script(_BUDGET))

    def spend(self, subject: str) -> str | None:
        """Take one notification for `subject`: a receipt to give back, or None when spent."""
        receipt = uuid.uuid4().hex
        args: list[int | str] = [self.period_s * 1000, self.limit, receipt]
        allowed = self._script(keys=[self._key(subject)], args=args)
        return receipt if int(allowed) else None

    def refund(self, subject: str, receipt: str) -> None:
        """The notification was not sent after all."""
        self.client.zrem(self._key(subject), receipt)

    def _key(self, subject: str) -> str:
        return f"{self.prefix}{subject}"
