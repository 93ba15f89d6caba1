"""API keys: `pw_<keyId>_<secret>`, shown once, stored as a SHA-256 hash with its tenant and
scopes. The key id makes lookups one indexed read; the hash comparison is constant-time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.credentials.scopes import ALL_SCOPES
from shared.repositories import api_keys as repo

if TYPE_CHECKING:
    from pymongo.database import Database

_KEY_PATTERN = re.compile(r"pw_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{32,64})")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its tenant and what it may do."""

    tenant_id: str
    scopes: frozenset[str]
    credential: str  # "api-key:<id>", "config-key:<name>" or "jwt:<sub>", for logs


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    plaintext: str  # shown once, never stored


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def issue_key(
    db: Database[Any], *, tenant_id: str, name: str, scopes: frozenset[str], now: datetime
) -> IssuedKey:
    unknown = scopes - ALL_SCOPES
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {sorted(ALL_SCOPES)}")
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    key_id = "".join(secrets.choice(alphabet) for _ in range(12))
    plaintext = f"pw_{key_id}_{secrets.token_urlsafe(32)}"
    repo.insert_key(
        db,
        key_id=key_id,
        tenant_id=tenant_id,
        name=name,
        scopes=sorted(scopes),
        key_hash=hash_key(plaintext),
        now=now,
    )
    return IssuedKey(key_id, plaintext)


def verify_stored_key(db: Database[Any], presented: str) -> Principal | None:
    """The principal of a `pw_` key, or None when unknown, revoked or not that key."""
    match = _KEY_PATTERN.fullmatch(presented)
    if match is None:
        return None
    document = repo.find_key(db, match.group(1))
    expected = document["keyHash"] if document else "0" * 64
    if not hmac.compare_digest(expected, hash_key(presented)) or document is None:
        return None
    if document.get("revokedAt") is not None:
        return None
    return Principal(
        tenant_id=document["tenant"],
        scopes=frozenset(document["scopes"]) & ALL_SCOPES,
        credential=f"api-key:{document['_id']}",
    )


def looks_like_stored_key(presented: str) -> bool:
    return presented.startswith("pw_")
