"""The URL a browser opens to watch one pass: `<PASSWIRE_LIVE_URL>/live/<tenant>/<pass>?token=`,
with a token valid PASSWIRE_LIVE_TOKEN_TTL_S seconds (the handshake is the only check: an
open connection outlives its token)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from config.settings import Settings
from shared.links import link_secret
from shared.live.handshake import path_for
from shared.live.tokens import channel_key, issue


@dataclass(frozen=True)
class ConnectLink:
    url: str
    expires_at: int  # Unix seconds


class LiveChannelOff(Exception):
    """No live channel: PASSWIRE_LIVE_URL or the link secret is not set (the message says)."""

    def __init__(self, setting: str) -> None:
        super().__init__(setting)
        self.setting = setting


def connect_link(settings: Settings, tenant_id: str, pass_id: str, *, now: int) -> ConnectLink:
    """Raises LiveChannelOff naming the missing setting."""
    if not settings.live_url:
        raise LiveChannelOff("PASSWIRE_LIVE_URL")
    secret = link_secret(tenant_id, is_local=settings.is_local, configured=settings.link_secret)
    if secret is None:
        raise LiveChannelOff("PASSWIRE_LINK_SECRET")
    expires_at = now + settings.live_token_ttl_s
    token = issue(channel_key(secret), tenant_id, pass_id, expires_at=expires_at)
    url = f"{settings.live_url.rstrip('/')}{path_for(tenant_id, pass_id)}?token={quote(token)}"
    return ConnectLink(url, expires_at)
