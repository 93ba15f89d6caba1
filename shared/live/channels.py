"""Where live events travel and what they look like.

One Redis pub/sub channel per pass, `passwire:live:<tenantId>:<passId>` (neither id may hold
a `:`: tenant ids are `[a-z0-9-]`, pass ids `[A-Za-z0-9_-]`). Each live server subscribes to
the pattern `passwire:live:*` once and hands a message to the sockets opened for that exact
channel: Redis does no per-connection work, and a socket only ever gets its own pass's events.
The message is the JSON text the browser receives, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.webhooks.config import PASS_INSTALLED, PASS_UNINSTALLED, PASS_UPDATED

PASS_REDEEMED = "pass.redeemed"
PASS_STATUS = "pass.status"
LIVE_EVENTS = (PASS_UPDATED, PASS_INSTALLED, PASS_UNINSTALLED, PASS_REDEEMED, PASS_STATUS)

PREFIX = "passwire:live:"
PATTERN = PREFIX + "*"


def channel(tenant_id: str, pass_id: str) -> str:
    if ":" in tenant_id or ":" in pass_id:
        raise ValueError("tenant and pass ids must not contain ':'")
    return f"{PREFIX}{tenant_id}:{pass_id}"


def message(event_type: str, pass_id: str, data: Mapping[str, Any], *, at: datetime) -> str:
    """`{"type", "passId", "at", "data"}`: what a watching browser receives."""
    if event_type not in LIVE_EVENTS:
        raise ValueError(f"unknown live event type {event_type!r}")
    body = {"type": event_type, "passId": pass_id, "at": at.isoformat(), "data": dict(data)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
