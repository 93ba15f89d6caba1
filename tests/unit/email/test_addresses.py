"""Recipient addresses are strict (one plain address, nothing a header could be built from),
and their problems never repeat the address."""

from __future__ import annotations

import pytest

from shared.email.addresses import MailboxError, address_problem, parse_mailbox

# 64 + 1 + 189 = 254 characters: the longest address, with the longest local part.
LONGEST = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "ada.lovelace+wallet@mail.example.co.uk",
        "o'brien@example.ie",
        "x@a-b.example",
        f"{'a' * 64}@example.com",
        LONGEST,
    ],
)
def test_plain_addresses_are_accepted(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "one address"),
        ("ada", "one address"),
        ("@example.com", "one address"),
        ("Ada <ada@example.com>", "without spaces"),
        ("<ada@example.com>", "mailbox name"),
        ("ada@example.com, bob@example.com", "without spaces"),
        ("ada@example.com,bob@example.com", "one address"),
        ("ada@example.com\r\nBcc: eve@example.com", "control characters"),
        ("ada@example.com\n", "control characters"),
        ("ada\t@example.com", "control characters"),
        ("ada@bob@example.com", "one address"),
        ('"ada lovelace"@example.com', "without spaces"),
        ('"ada"@example.com', "mailbox name"),
        ("ada..lovelace@example.com", "mailbox name"),
        (".ada@example.com", "mailbox name"),
        ("ada.@example.com", "mailbox name"),
        (f"{'a' * 65}@example.com", "mailbox name"),
        ("ada@localhost", "domain name"),
        ("ada@[127.0.0.1]", "domain name"),
        ("ada@10.0.0.1", "domain name"),
        ("ada@-example.com", "domain name"),
        ("ada@example-.com", "domain name"),
        ("ada@example..com", "domain name"),
        ("ada@example.com.", "domain name"),
        ("adä@example.com", "ASCII"),
        ("ada@exämple.com", "ASCII"),
        ("x" + LONGEST, "at most 254"),
        (f"ada@{'b' * 64}.com", "domain name"),
    ],
)
def test_anything_else_is_refused_without_repeating_it(address: str, reason: str) -> None:
    problem = address_problem(address)
    assert problem is not None and reason in problem
    if address:
        assert address not in problem and "ada" not in problem


def test_only_strings_are_addresses() -> None:
    assert address_problem(["ada@example.com"]) == "must be a string"


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("wallet@example.com", ("", "wallet@example.com")),
        ("Demo Coffee <wallet@example.com>", ("Demo Coffee", "wallet@example.com")),
        ('"Demo, Inc." <wallet@example.com>', ("Demo, Inc.", "wallet@example.com")),
        ("Café Démo <wallet@example.com>", ("Café Démo", "wallet@example.com")),
    ],
)
def test_sender_mailboxes_may_have_a_display_name(
    configured: str, expected: tuple[str, str]
) -> None:
    assert parse_mailbox(configured) == expected


@pytest.mark.parametrize(
    "configured",
    ["wallet", "a@example.com, b@example.com", "Demo <wallet@localhost>", "Demo\n<a@example.com>"],
)
def test_bad_sender_mailboxes_are_refused(configured: str) -> None:
    with pytest.raises(MailboxError):
        parse_mailbox(configured)
