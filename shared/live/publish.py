"""Publishing a live event where it happens, next to the webhook event (if any):

    live_publish(settings, tenant.id, pass_id, PASS_INSTALLED, {"wallet": "apple"})

Best effort: the pass's change is already stored and the watching page is a convenience, so a
Redis error is logged and the caller goes on; nobody watching costs one PUBLISH.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from config.settings import Settings
from shared.infra.clock import utcnow
from shared.infra.redis_clients import process_client
from shared.lifecycle import EXPIRE_KIND, REDEEM_KIND, STATUS_KIND
from shared.live.channels import PASS_REDEEMED, PASS_STATUS, channel, message

log = logging.getLogger(__name__)

# A lifecycle operation's kind -> the live event its refresh job announces.
_LIFECYCLE_EVENTS = {REDEEM_KIND: PASS_REDEEMED, STATUS_KIND: PASS_STATUS, EXPIRE_KIND: PASS_STATUS}


def live_publish(
    settings: Settings,
    tenant_id: str,
    pass_id: str,
    event_type: str,
    data: Mapping[str, Any] | None = None,
) -> bool:
    """Publish `event_type` on the pass's channel; whether Redis took it. Never raises."""
    try:
        text = message(event_type, pass_id, data or {}, at=utcnow())
        client = process_client(
            settings.redis_url, sentinel_password=settings.redis_sentinel_password
        )
        client.publish(channel(tenant_id, pass_id), text)
    except Exception as exc:  # a live event is never worth failing the change it reports
        log.warning(
            "live event %s for pass %s not published: %s", event_type, pass_id, type(exc).__name__
        )
        return False
    return True


def live_publish_lifecycle(settings: Settings, kind: str, document: Mapping[str, Any]) -> bool:
    """After a lifecycle refresh (`kind`: redeem, status, expire): `pass.redeemed` or
    `pass.status` with the pass's status; other kinds announce nothing here."""
    event_type = _LIFECYCLE_EVENTS.get(kind)
    if event_type is None:
        return False
    data = {"status": document.get("status")}
    return live_publish(settings, str(document["tenant"]), str(document["_id"]), event_type, data)
