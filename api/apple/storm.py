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

Both variables are read when the app is created; a value that is not a positive integer stops
start-up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import redis
from flask import current_app
from flask.blueprints import BlueprintSetupState

from shared.infra.redis_clients import process_client

log = logging.getLogger(__name__)

RATE_ENV = "PASSWIRE_APPLE_REGISTRATION_RATE"
MAX_PER_DEVICE_ENV = "PASSWIRE_APPLE_MAX_REGISTRATIONS_PER_DEVICE"
WINDOW_S = 60
LIMIT_RETRY_AFTER_S = 3600
_EXTENSION = "passwire.apple.storm_limits"
_KEY_PREFIX = "passwire:apple:registration-calls:"
_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class StormLimits:
    calls_per_window: int = 120
    registrations_per_device: int = 500


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if value < 1:
        raise ValueError(f"environment variable {name} must be a positive integer, got {raw!r}")
    return value


def limits_from_env(environ: Mapping[str, str] = os.environ) -> StormLimits:
    return StormLimits(
        calls_per_window=_positive(environ, RATE_ENV, StormLimits.calls_per_window),
        registrations_per_device=_positive(
            environ, MAX_PER_DEVICE_ENV, StormLimits.registrations_per_device
        ),
    )


def configure(state: BlueprintSetupState) -> None:
    """Blueprint `record_once` callback: reads the limits when the app is created."""
    state.app.extensions[_EXTENSION] = limits_from_env()


def limits() -> StormLimits:
    value: StormLimits = current_app.extensions[_EXTENSION]
    return value


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
