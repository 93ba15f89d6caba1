"""Self-service issuing: a public page can create a pass without an API key when every
identifier it sends is vouched for, by an HMAC signature (`<key>.hmac` beside `<key>`:
hex HMAC-SHA256 of the value with the tenant's secret) or by the tenant's allowlist.

The brand's own server signs the customer's identifier (e.g. its CRM id) when it renders the
page; the browser then calls passwire directly. Nobody can issue a pass for an identifier the
brand did not sign.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SIGNATURE_SUFFIX = ".hmac"


@dataclass(frozen=True)
class SelfServiceConfig:
    pass_types: frozenset[str]
    hmac_secret_env: str | None = None
    # identifier key → values accepted without a signature (test cards, demo members).
    allowlist: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def secret(self) -> bytes | None:
        value = os.environ.get(self.hmac_secret_env or "", "")
        return value.encode("utf-8") if len(value) >= 32 else None


class NotVouchedFor(Exception):
    """An identifier is neither signed correctly nor allowlisted; names it, not its value."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def sign_identifier(secret: bytes, value: str) -> str:
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def split_signatures(identifiers: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(identifiers without the `.hmac` entries, key → presented signature)."""
    plain: dict[str, Any] = {}
    signatures: dict[str, str] = {}
    for key, value in identifiers.items():
        if key.endswith(SIGNATURE_SUFFIX):
            signatures[key[: -len(SIGNATURE_SUFFIX)]] = str(value)
        else:
            plain[key] = value
    return plain, signatures


def check_vouched(
    config: SelfServiceConfig, identifiers: Mapping[str, Any], signatures: Mapping[str, str]
) -> None:
    """Raise NotVouchedFor unless every identifier is signed or allowlisted."""
    if not identifiers:
        raise NotVouchedFor("identifiers", "self-service issuing needs at least one identifier")
    secret = config.secret()
    for key, value in identifiers.items():
        if not isinstance(value, str):
            raise NotVouchedFor(key, "only top-level identifiers can be self-service")
        presented = signatures.get(key)
        if presented is not None:
            expected = sign_identifier(secret, value) if secret else ""
            # Constant time, and a missing secret never matches anything.
            if secret and hmac.compare_digest(expected, presented.lower()):
                continue
            raise NotVouchedFor(key, "the signature does not match")
        if value not in config.allowlist.get(key, frozenset()):
            raise NotVouchedFor(key, f"needs a {key}{SIGNATURE_SUFFIX} signature")
    unused = set(signatures) - set(identifiers)
    if unused:
        raise NotVouchedFor(sorted(unused)[0] + SIGNATURE_SUFFIX, "signs no identifier")


def claim_key(tenant_id: str, pass_type: str, identifiers: Mapping[str, Any]) -> str:
    """One key per (tenant, pass type, identifiers), whatever the order of the keys."""
    canonical = json.dumps(identifiers, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{tenant_id}\n{pass_type}\n{canonical}".encode()).hexdigest()
