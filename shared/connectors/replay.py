"""Replay protection for signed connector requests: a signature is accepted once within its
timestamp window (a captured request replayed inside the window is refused)."""

from __future__ import annotations

import redis

_PREFIX = "passwire:connector-seen"


def first_use(client: redis.Redis, tenant_id: str, connector: str, key: str, ttl_s: int) -> bool:
    """Record the key; False if it was already recorded. Kept for twice the window, as the
    timestamp may be that far from ours in either direction."""
    return bool(client.set(f"{_PREFIX}:{tenant_id}:{connector}:{key}", 1, nx=True, ex=2 * ttl_s))
