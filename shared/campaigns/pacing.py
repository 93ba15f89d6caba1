"""A campaign's `throughput`: at most that many passes per second, across every worker.

One sliding-window limiter in Redis per campaign (keyed by its correlationId, shared/infra/
ratelimit.py): each batch takes a slot before each pass, so however many batches run at once,
on however many workers, the campaign as a whole keeps to its rate. No margin: the cap is on
our own processing, not measured by a remote server.

A paced campaign's batches are smaller (about PACED_BATCH_SECONDS of passes at its rate):
pushes go out as each batch ends, so small batches keep them flowing at the rate rather than
in bursts of a whole default batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import redis

from shared.infra.ratelimit import SlidingWindowLimiter

FIELD = "throughputLimit"  # on the operation: passes per second, absent when not paced
KEY_PREFIX = "passwire:campaign:pace:"
PACED_BATCH_SECONDS = 2
MIN_PACED_BATCH = 10
MAX_WAIT_S = 120.0  # per pass; far beyond what a fair share of the rate ever waits

Pace = Callable[[], None]


def limit_of(operation: Mapping[str, Any]) -> int | None:
    limit = operation.get(FIELD)
    return int(limit) if limit else None


def batch_size(operation: Mapping[str, Any], size: int) -> int:
    """The batch size for `operation`: `size`, or smaller when the campaign is paced."""
    limit = limit_of(operation)
    if limit is None:
        return size
    return max(1, min(size, max(MIN_PACED_BATCH, math.ceil(limit * PACED_BATCH_SECONDS))))


def pace_for(client: redis.Redis, operation: Mapping[str, Any]) -> Pace:
    """Call before each pass: returns once the campaign may process one more."""
    limit = limit_of(operation)
    if limit is None:
        return _unpaced
    limiter = SlidingWindowLimiter(
        client, key=f"{KEY_PREFIX}{operation['_id']}", limit=limit, window_s=1.0, margin_s=0.0
    )

    def pace() -> None:
        limiter.acquire(max_wait_s=MAX_WAIT_S)

    return pace


def _unpaced() -> None:
    return None
