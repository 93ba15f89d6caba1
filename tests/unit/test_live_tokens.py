"""Live channel tokens (shared/live/tokens.py): one pass of one tenant, until they expire."""

from __future__ import annotations

import pytest

from shared.links import sign_link
from shared.live.tokens import TokenCheck, channel_key, check, issue

SECRET = b"s" * 32
KEY = channel_key(SECRET)
NOW = 1_800_000_000
PASS = "Ed34kg3oA47abcdefghijk"


def test_a_token_opens_its_pass_until_it_expires() -> None:
    token = issue(KEY, "demo", PASS, expires_at=NOW + 300)
    assert check(KEY, "demo", PASS, token, now=NOW) is TokenCheck.VALID
    assert check(KEY, "demo", PASS, token, now=NOW + 299) is TokenCheck.VALID
    assert check(KEY, "demo", PASS, token, now=NOW + 300) is TokenCheck.EXPIRED


def test_a_token_opens_no_other_pass_or_tenant() -> None:
    token = issue(KEY, "demo", PASS, expires_at=NOW + 300)
    assert check(KEY, "demo", "Other4kg3oA47abcdefghi", token, now=NOW) is TokenCheck.INVALID
    assert check(KEY, "rival", PASS, token, now=NOW) is TokenCheck.INVALID


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "garbage",
        f"{NOW + 300}.",
        f"{NOW + 300}." + "A" * 43,
        f"0{NOW + 300}." + "A" * 43,  # one spelling per expiry
        f"{NOW + 300}." + "A" * 44,
    ],
)
def test_forged_tokens_are_invalid(forged: str) -> None:
    assert check(KEY, "demo", PASS, forged, now=NOW) is TokenCheck.INVALID


def test_a_later_expiry_breaks_the_signature() -> None:
    token = issue(KEY, "demo", PASS, expires_at=NOW - 1)
    signature = token.split(".", 1)[1]
    assert check(KEY, "demo", PASS, token, now=NOW) is TokenCheck.EXPIRED
    stretched = f"{NOW + 3600}.{signature}"
    assert check(KEY, "demo", PASS, stretched, now=NOW) is TokenCheck.INVALID


def test_an_expired_forgery_is_invalid_not_expired() -> None:
    forged = issue(channel_key(b"x" * 32), "demo", PASS, expires_at=NOW - 1)
    assert check(KEY, "demo", PASS, forged, now=NOW) is TokenCheck.INVALID


def test_download_link_tokens_and_channel_tokens_do_not_open_each_other() -> None:
    link = sign_link(SECRET, "demo", PASS, NOW + 300)
    assert check(KEY, "demo", PASS, link, now=NOW) is TokenCheck.INVALID
    assert check(SECRET, "demo", PASS, link, now=NOW) is TokenCheck.INVALID


def test_ids_that_could_shift_the_signed_message_are_refused() -> None:
    with pytest.raises(ValueError, match="'\\|'"):
        issue(KEY, "demo|x", PASS, expires_at=NOW)
    token = issue(KEY, "demo", PASS, expires_at=NOW + 300)
    assert check(KEY, "demo|x", PASS, token, now=NOW) is TokenCheck.INVALID
