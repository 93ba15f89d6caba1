"""The PassKit web service's pure parts: authentication, tags, log hygiene, storm limits."""

from __future__ import annotations

from typing import Any

import pytest

from api.apple import storm
from config.settings import load_settings
from shared.apple import webservice
from shared.apple.webservice import PassRef
from tests.support.processes import free_port

TOKEN = "t0k3n-t0k3n-t0k3n-t0k3n-t0k3n-xy"
REF = PassRef("demo", "pass.com.example.loyalty", "serial-12345")


def pass_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_id": REF.serial,
        "tenant": REF.tenant_id,
        "authenticationToken": TOKEN,
        "apple": {"passTypeIdentifier": REF.pass_type_identifier, "updateTag": 1},
    }
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (f"ApplePass {TOKEN}", TOKEN),
        (f"applepass  {TOKEN} ", TOKEN),
        ("ApplePass", None),
        ("ApplePass ", None),
        (f"Bearer {TOKEN}", None),
        (TOKEN, None),
        ("", None),
        (None, None),
    ],
)
def test_token_from_header(header: str | None, token: str | None) -> None:
    assert webservice.token_from_header(header) == token


def test_is_authorized_only_for_the_right_pass_and_token() -> None:
    header = f"ApplePass {TOKEN}"
    assert webservice.is_authorized(pass_document(), REF, header)
    assert not webservice.is_authorized(None, REF, header)
    assert not webservice.is_authorized(pass_document(), REF, "ApplePass other")
    assert not webservice.is_authorized(pass_document(), REF, "ApplePass é")
    assert not webservice.is_authorized(pass_document(), REF, None)
    assert not webservice.is_authorized(pass_document(tenant="rival"), REF, header)
    assert not webservice.is_authorized(pass_document(_id="serial-other"), REF, header)
    assert not webservice.is_authorized(pass_document(apple=None), REF, header)
    other_type = pass_document(apple={"passTypeIdentifier": "pass.other"})
    assert not webservice.is_authorized(other_type, REF, header)
    # A pass without a token never matches, not even an empty presented one.
    assert not webservice.is_authorized(pass_document(authenticationToken=""), REF, "ApplePass ")
    assert not webservice.is_authorized(pass_document(authenticationToken=None), REF, header)


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("0", 0),
        ("42", 42),
        (str(2**53 + 1), 2**53 + 1),
        (str(2**63 - 1), 2**63 - 1),
        ("9" * 30, 2**63 - 1),
        (None, None),
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("12abc", None),
        ("9" * 101, None),
        ("٣", None),
    ],
)
def test_parse_update_tag(raw: str | None, tag: int | None) -> None:
    assert webservice.parse_update_tag(raw) == tag


def test_summarise_keeps_exact_tags_as_strings() -> None:
    summary = webservice.summarise([("b-serial", 2**53 + 1), ("a-serial", 2**62 + 3)])
    assert summary == webservice.UpdatedSerials(["a-serial", "b-serial"], str(2**62 + 3))
    assert webservice.summarise([]) is None


def test_device_logs_are_capped_cut_redacted_and_on_one_line() -> None:
    push_token = "ab" * 32
    kept, dropped = webservice.sanitise_device_logs(
        [f"token {push_token}\r\nApplePass secret", "é" * 2000, *["m"] * 60]
    )
    assert kept[0] == "token [redacted]  ApplePass [redacted]"
    assert len(kept[1].encode("utf-8")) <= webservice.MAX_LOG_BYTES
    assert len(kept) == webservice.MAX_LOG_LINES
    assert dropped == 12
    # A token cut at the size limit is redacted whole, never partly shown.
    [long_line], _ = webservice.sanitise_device_logs(["x " * 490 + push_token])
    assert push_token[:8] not in long_line


def test_storm_limits_are_settings_checked_at_start_up() -> None:
    rate, per_device = (
        "PASSWIRE_APPLE_REGISTRATION_RATE",
        "PASSWIRE_APPLE_MAX_REGISTRATIONS_PER_DEVICE",
    )
    defaults = load_settings({})
    assert (defaults.apple_registration_rate, defaults.apple_max_registrations_per_device) == (
        120,
        500,
    )
    settings = load_settings({rate: "5", per_device: " 7 "})
    assert (settings.apple_registration_rate, settings.apple_max_registrations_per_device) == (5, 7)
    for bad in ("0", "-1", "ten", "²"):
        with pytest.raises(ValueError, match=rate):
            load_settings({rate: bad})


def test_storm_guard_lets_calls_through_when_redis_is_down() -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    budgets = [storm.device_budget("device-1", 1), storm.address_budget("log", "::1", 1)]
    assert storm.retry_after(unreachable, budgets) is None
