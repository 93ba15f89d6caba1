"""Signed download-page links: one pass, one tenant, until they expire."""

from __future__ import annotations

import hmac
import re
from typing import Any

import pytest

from shared.links import LinkCheck, link_secret, sign_link, verify_link

SECRET = b"k" * 32
NOW = 1_750_000_000
EXPIRES = NOW + 3600


def token() -> str:
    return sign_link(SECRET, "demo", "Ed34kg3oA47abcdefghijk", EXPIRES)


def check(value: str, *, tenant: str = "demo", pass_id: str = "Ed34kg3oA47abcdefghijk") -> Any:
    return verify_link(SECRET, tenant, pass_id, value, NOW)


def test_a_signed_link_verifies_and_is_url_safe() -> None:
    value = token()
    assert re.fullmatch(r"[0-9]+\.[A-Za-z0-9_-]{43}", value)
    assert value.startswith(f"{EXPIRES}.")
    assert check(value) is LinkCheck.VALID


def test_signing_is_deterministic_and_keyed() -> None:
    assert token() == token()
    other = sign_link(b"o" * 32, "demo", "Ed34kg3oA47abcdefghijk", EXPIRES)
    assert other != token()
    assert check(other) is LinkCheck.INVALID


def test_expiry() -> None:
    value, pass_id = token(), "Ed34kg3oA47abcdefghijk"
    assert verify_link(SECRET, "demo", pass_id, value, EXPIRES - 1) is LinkCheck.VALID
    assert verify_link(SECRET, "demo", pass_id, value, EXPIRES) is LinkCheck.EXPIRED


def test_another_pass_or_tenant_is_refused() -> None:
    value = token()
    assert check(value, pass_id="Ed34kg3oA47abcdefghijK") is LinkCheck.INVALID
    assert check(value, tenant="rival") is LinkCheck.INVALID


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(f"{EXPIRES}.", f"{EXPIRES + 86400}."),  # a later expiry
        lambda t: f"0{t}",  # another spelling of the same expiry
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # last signature character
        lambda t: t[:-1],  # truncated
        lambda t: t + "=",  # padded
        lambda t: t.split(".")[1],  # no expiry
        lambda t: "",
        lambda t: "-1." + t.split(".")[1],
        lambda t: t.replace(".", ":"),
    ],
)
def test_tampered_tokens_are_invalid(tamper: Any) -> None:
    assert check(tamper(token())) is LinkCheck.INVALID


def test_a_tampered_expired_token_says_invalid_not_expired() -> None:
    value = sign_link(SECRET, "demo", "Ed34kg3oA47abcdefghijk", NOW - 10)
    assert check(value) is LinkCheck.EXPIRED
    assert check(value[:-1] + ("A" if value[-1] != "A" else "B")) is LinkCheck.INVALID


def test_separator_in_ids_is_refused() -> None:
    # "a|b" + "c" and "a" + "b|c" would sign the same message.
    with pytest.raises(ValueError, match=r"\|"):
        sign_link(SECRET, "de|mo", "Ed34kg3oA47abcdefghijk", EXPIRES)
    assert verify_link(SECRET, "demo|x", "pass1", token(), NOW) is LinkCheck.INVALID


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    compare = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module shared.links calls
    assert check(token()) is LinkCheck.VALID
    assert check(token()[:-1] + "x") is LinkCheck.INVALID
    assert len(calls) == 2


def test_secret_lookup() -> None:
    long = "s" * 32
    assert link_secret("demo", is_local=False, configured=long) == long.encode()
    assert link_secret("demo", is_local=True, configured=long) == long.encode()
    # Production without a secret: pages are disabled; local runs get a fixed development one.
    assert link_secret("demo", is_local=False, configured="") is None
    dev = link_secret("demo", is_local=True, configured="")
    assert dev is not None and len(dev) >= 32
    # A short secret is never used, not even locally.
    assert link_secret("demo", is_local=True, configured="short") is None
    assert link_secret("demo", is_local=False, configured="short") is None
