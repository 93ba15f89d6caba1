"""Passwire-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.webhooks.signing import InvalidSignature, sign, verify

SECRET = "whsec-unit"
BODY = b'{"id":"evt_1","type":"pass.created","data":{"passId":"abc"}}'
NOW = 1_760_000_000


def test_a_signed_body_verifies_and_gives_its_timestamp() -> None:
    header = sign(SECRET, BODY, NOW)
    assert verify(SECRET, header, BODY, now=NOW + 10) == NOW


def test_the_header_is_a_timestamp_and_an_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_str_and_bytes_bodies_sign_alike() -> None:
    assert sign(SECRET, BODY.decode(), NOW) == sign(SECRET, BODY, NOW)


def test_a_tampered_body_is_refused() -> None:
    header = sign(SECRET, BODY, NOW)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(SECRET, header, BODY.replace(b"abc", b"abd"), now=NOW)


def test_a_wrong_secret_is_refused() -> None:
    header = sign("another-secret", BODY, NOW)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(SECRET, header, BODY, now=NOW)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_timestamp_outside_the_tolerance_is_refused(age: int) -> None:
    header = sign(SECRET, BODY, NOW)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(SECRET, header, BODY, now=NOW + age)
    assert verify(SECRET, header, BODY, tolerance_s=abs(age), now=NOW + age) == NOW


def test_a_replayed_signature_with_a_new_timestamp_is_refused() -> None:
    signature = sign(SECRET, BODY, NOW).split(",")[1]
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(SECRET, f"t={NOW + 60},{signature}", BODY, now=NOW + 60)


@pytest.mark.parametrize("header", [None, "", "garbage", f"t={NOW}", "v1=abc", "t=x,v1=ab"])
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, header, BODY, now=NOW)


def test_one_matching_signature_among_several_is_enough() -> None:
    """While a secret is rotated, a header may carry a signature per secret."""
    old = sign("old-secret", BODY, NOW).split(",")[1]
    header = f"{sign(SECRET, BODY, NOW)},{old}"
    assert verify(SECRET, header, BODY, now=NOW) == NOW
    assert verify("old-secret", header, BODY, now=NOW) == NOW
