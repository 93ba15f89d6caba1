"""The download page's live part: the WebSocket URL it watches its pass on, and the CSP that
lets its one nonce'd script reach that server and nothing else (docs/api.md#live-channel).
Without PASSWIRE_LIVE_URL the page carries no script and its CSP stays as it was."""

from __future__ import annotations

from flask import Response

from api import services
from shared.infra.clock import utcnow
from shared.live.connect import ConnectLink, LiveChannelOff, connect_link
from shared.live.handshake import origin_of


def live_watch(tenant_id: str, pass_id: str) -> ConnectLink | None:
    """The page's channel URL, or None when the live channel is off."""
    now = int(utcnow().timestamp())
    try:
        return connect_link(services.settings(), tenant_id, pass_id, now=now)
    except LiveChannelOff:
        return None


def allow_live(response: Response, nonce: str, live: ConnectLink | None) -> Response:
    """Add to the page's CSP its nonce'd script and its one WebSocket origin."""
    if live is not None:
        csp = response.headers["Content-Security-Policy"]
        extra = f"script-src 'nonce-{nonce}'; connect-src {origin_of(live.url)}"
        response.headers["Content-Security-Policy"] = f"{csp}; {extra}"
    return response
