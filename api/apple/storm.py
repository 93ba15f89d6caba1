"""Guard against registration storms from one Wallet device.

Two limits, both answered with 429, `Retry-After` and the JSON envelope:

- Rate: at most `PASSWIRE_APPLE_REGISTRATION_RATE` (default 120) registration calls (register
  and unregister, counted before authentication so floods never reach MongoDB) per
  deviceLibraryIdentifier per fixed 60-second window, counted in Redis by one MULTI/EXEC
  (`SET key 0 EX 60 NX`, `INCR`, `TTL`): atomic, and a key never outlives its window. When
  Redis is unreachable the guard lets calls through (logged): devices keep working.
- Size: at most `PASSWIRE_APPLE_MAX_REGISTRATIONS_PER_DEVICE` (default 500) registrations
  stored per device. Refreshing an existing registration is always allowed; a new one beyond
  the limit is refused (Retry-After one hour: the device must unregister passes first).

Both are settings (config/settings.py), checked when the process starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from api import services
from shared.infra.redis_clients import process_client

log = logging.getLogger(__name__)

WINDOW_S = 60
LIMIT_RETRY_AFTER_S = 3600
_KEY_PREFIX = "passwire:apple:registration-calls:"
_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class StormLimits:
    calls_per_window: int
    registrations_per_device: int


def limits() -> StormLimits:
    """The app's limits (PASSWIRE_APPLE_REGISTRATION_RATE and
    PASSWIRE_APPLE_MAX_REGISTRATIONS_PER_DEVICE)."""
    settings = services.settings()
    return StormLimits(
        calls_per_window=settings.apple_registration_rate,
        registrations_per_device=settings.apple_max_registrations_per_device,
    )


def retry_after(redis_url: str, device: str, calls_per_window: int) -> int | None:
    """Count one registration call of the device; seconds to wait when over the rate."""
    name = f"{_KEY_PREFIX}{device}"
    try:
        pipe = process_client(redis_url, timeout_s=_TIMEOUT_S).pipeline(transaction=True)
        pipe.set(name, 0, ex=WINDOW_S, nx=True)
        pipe.incr(name)
        pipe.ttl(name)
        _, calls, ttl = pipe.execute()
    except redis.RedisError as exc:
        log.warning("registration rate not checked, Redis unavailable (%s)", type(exc).__name__)
        return None
    if int(calls) <= calls_per_window:
        return None
    return max(int(ttl), 1)
