"""The live channel's settings stop a process at start when wrong, naming the variable; and
`/connect` URLs are built from them (shared/live/connect.py)."""

from __future__ import annotations

import pytest

from config.settings import Settings, load_settings
from shared.live.connect import LiveChannelOff, connect_link
from shared.live.tokens import TokenCheck, channel_key, check


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PASSWIRE_LIVE_URL", "https://live.example.com", "must start with ws:// or wss://"),
        ("PASSWIRE_LIVE_TOKEN_TTL_S", "0", "PASSWIRE_LIVE_TOKEN_TTL_S must be at least 1"),
        ("PASSWIRE_LIVE_MAX_CONNECTIONS", "0", "PASSWIRE_LIVE_MAX_CONNECTIONS must be at least 1"),
    ],
)
def test_bad_values_name_their_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings({variable: value})


def test_the_connect_url_carries_a_token_for_its_pass_until_the_ttl() -> None:
    settings = Settings(
        environment="production",
        live_url="wss://live.example.com/",
        live_token_ttl_s=120,
        link_secret="z" * 32,
    )
    link = connect_link(settings, "demo", "Ed34kg3oA47abcdefghijk", now=1_000)
    prefix = "wss://live.example.com/live/demo/Ed34kg3oA47abcdefghijk?token="
    assert link.url.startswith(prefix) and link.expires_at == 1_120
    token = link.url.removeprefix(prefix)
    key = channel_key(b"z" * 32)
    assert check(key, "demo", "Ed34kg3oA47abcdefghijk", token, now=1_119) is TokenCheck.VALID
    assert check(key, "demo", "Ed34kg3oA47abcdefghijk", token, now=1_120) is TokenCheck.EXPIRED


@pytest.mark.parametrize(
    ("changes", "setting"),
    [({"live_url": ""}, "PASSWIRE_LIVE_URL"), ({"link_secret": ""}, "PASSWIRE_LINK_SECRET")],
)
def test_off_without_its_url_or_a_link_secret(changes: dict[str, str], setting: str) -> None:
    base = {"live_url": "wss://live.example.com", "link_secret": "z" * 32}
    settings = Settings(environment="production", **{**base, **changes})  # type: ignore[arg-type]
    with pytest.raises(LiveChannelOff) as off:
        connect_link(settings, "demo", "Ed34kg3oA47abcdefghijk", now=1_000)
    assert off.value.setting == setting
