"""Guard against registration storms from Wallet devices, or from whoever holds a pass's token
(it is inside every .pkpass).

Limits, each answered with 429, `Retry-After` and the JSON envelope naming what is limited:

- Rates, per fixed 60-second window, counted in Redis by one MULTI/EXEC for all the budgets a
  call spends (`SET key 0 EX 60 NX`, `INCR`, `TTL` each): atomic, and a key never outlives its
  window. When Redis is unreachable the guard lets calls through (logged): devices keep
  working. Registration calls (register and unregister):
  - per deviceLibraryIdentifier, `PASSWIRE_APPLE_REGISTRATION_RATE` (default 120), and per
    client address, `PASSWIRE_APPLE_ADDRESS_REGISTRATION_RATE` (default 1,200): counted
    before authentication, so floods never reach MongoDB;
  - per pass, `PASSWIRE_APPLE_PASS_REGISTRATION_RATE` (default 240, twice a device's: one
    device retrying is held back by its own rate first): counted once the token is checked,
    so nobody without it can hold a pass's devices back.
  `/v1/log` calls per client address: `PASSWIRE_APPLE_ADDRESS_LOG_RATE` (default 120). The
  client address is the socket's peer, or the one PASSWIRE_TRUSTED_PROXY_HOPS proxies report.
- Sizes (Retry-After one hour: something must be unregistered first); refreshing an existing
  registration is always allowed, a new one beyond the limit is refused:
  - at most `PASSWIRE_APPLE_MAX_REGISTRATIONS_PER_DEVICE` (default 500) passes per device;
  - at most `PASSWIRE_APPLE_MAX_DEVICES_PER_PASS` (default 20) devices per pass: every update
    pushes each of them, so a leaked token cannot make one pass push thousands of devices.

All are settings (config/settings.py), checked when the process starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from api import services
from shared.infra.redis_clients import process_client

log = logging.getLogger(__name__)

WINDOW_S = 60
LIMIT_RETRY_AFTER_S = 3600
_KEY_PREFIX = "passwire:apple:calls:"
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


@dataclass(frozen=True)
class Budget:
    """Calls allowed per window to one subject; `field` and `what` tell the client which."""

    key: str
    limit: int
    field: str
    what: str

    @property
    def reason(self) -> str:
        return f"more than {self.limit} {self.what} per {WINDOW_S} seconds"


def device_budget(device: str, limit: int) -> Budget:
    return Budget(f"device:{device}", limit, "deviceLibraryIdentifier", "registration calls")


def pass_budget(tenant_id: str, pass_type_identifier: str, serial: str, limit: int) -> Budget:
    key = f"pass:{tenant_id}:{pass_type_identifier}:{serial}"
    return Budget(key, limit, "serialNumber", "registration calls for this pass")


def address_budget(kind: str, address: str, limit: int) -> Budget:
    """`kind`: the calls counted (`registration`, `log`), each kind with its own count."""
    return Budget(f"address:{kind}:{address}", limit, "client", f"{kind} calls from this address")


def retry_after(
    redis_url: str, budgets: Sequence[Budget], *, sentinel_password: str = ""
) -> tuple[Budget, int] | None:
    """Count one call against each budget; the first one overspent and the seconds until its
    window ends, or None when the call may go."""
    try:
        client = process_client(
            redis_url, timeout_s=_TIMEOUT_S, sentinel_password=sentinel_password
        )
        pipe = client.pipeline(transaction=True)
        for budget in budgets:
            name = f"{_KEY_PREFIX}{budget.key}"
            pipe.set(name, 0, ex=WINDOW_S, nx=True)
            pipe.incr(name)
            pipe.ttl(name)
        replies = pipe.execute()
    except redis.RedisError as exc:
        log.warning("Apple call rates not checked, Redis unavailable (%s)", type(exc).__name__)
        return None
    for index, budget in enumerate(budgets):
        calls, ttl = replies[3 * index + 1], replies[3 * index + 2]
        if int(calls) > budget.limit:
            return budget, max(int(ttl), 1)
    return None
