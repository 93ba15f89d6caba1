"""Email addresses: the strict form a recipient must have, and the sender mailboxes of a
tenant's `[smtp]` table.

A recipient is exactly one plain ASCII `local@domain`: no display name, no comments, no
quoted local part, no IP literal, no whitespace or control characters (so no header can be
smuggled in), at most 254 characters (RFC 5321's path limit less the angle brackets).
Internationalised addresses are refused: delivering them needs SMTPUTF8 on every relay.
Problems are described without repeating the address, so they can be logged and returned.
"""

from __future__ import annotations

import re
from email.policy import default as default_policy
from email.utils import formataddr

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
MAX_DOMAIN_LENGTH = 253
# RFC 5322 dot-atom: atext runs separated by single dots.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NUMERIC = re.compile(r"[0-9]+")


def address_problem(value: object) -> str | None:
    """Why `value` is not one deliverable recipient address, or None when it is."""
    if not isinstance(value, str):
        return "must be a string"
    if not value.isascii() or not value.isprintable() or " " in value:
        return "must be ASCII, without spaces or control characters"
    if len(value) > MAX_ADDRESS_LENGTH:
        return f"must be at most {MAX_ADDRESS_LENGTH} characters"
    local, at, domain = value.rpartition("@")
    if not at or not local or "@" in local:
        return "must be one address, local@domain, without a display name"
    if len(local) > MAX_LOCAL_PART_LENGTH or not _LOCAL_PART.fullmatch(local):
        return "the part before @ is not a valid mailbox name"
    return _domain_problem(domain)


def _domain_problem(domain: str) -> str | None:
    labels = domain.split(".")
    if (
        len(domain) > MAX_DOMAIN_LENGTH
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or _NUMERIC.fullmatch(labels[-1])
    ):
        return "the part after @ must be a domain name such as example.com"
    return None


class MailboxError(ValueError):
    """A configured sender mailbox is invalid; the message says why."""


def parse_mailbox(value: str) -> tuple[str, str]:
    """A configured sender, `addr@example.com` or `Display Name <addr@example.com>`, as
    (display name, address); the address must satisfy `address_problem`."""
    if "\r" in value or "\n" in value:
        raise MailboxError("must be one line")
    # The email package's own header parser: what it accepts, a From header can carry.
    header = default_policy.header_factory("From", value)
    if header.defects or len(header.addresses) != 1:
        raise MailboxError("must be one address, optionally with a display name: Name <a@b.c>")
    mailbox = header.addresses[0]
    problem = address_problem(mailbox.addr_spec)
    if problem is not None:
        raise MailboxError(problem)
    return mailbox.display_name, mailbox.addr_spec


def format_mailbox(name: str, address: str) -> str:
    return formataddr((name, address)) if name else address
