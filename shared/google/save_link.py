"""Save to Google Wallet links: a JWT signed with the issuer's service-account key.

Pure functions. The JWT (RS256, `aud: google`, `typ: savetowallet`, `origins` of the pages
that may show the button) normally carries the whole object, so Google can create it when
the user saves. A save URL must stay short (browsers and Google cut long URLs, around 2,000
characters), so when the full JWT would pass `MAX_JWT_CHARS` the object must already exist at
Google and a "skinny" JWT names it by id only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

MAX_JWT_CHARS = 1800
LINK_TTL_S = 3600
DEFAULT_SAVE_URL = "https://pay.google.com/gp/v/save"
# JWT payload field per object kind (Google's Save to Wallet JWT reference).
PAYLOAD_FIELDS = {
    "loyalty": "loyaltyObjects",
    "offer": "offerObjects",
    "giftCard": "giftCardObjects",
    "eventTicket": "eventTicketObjects",
    "generic": "genericObjects",
}


@dataclass(frozen=True)
class SigningAccount:
    client_email: str
    private_key_id: str
    private_key_pem: str


def save_jwt(
    account: SigningAccount,
    *,
    kind: str,
    objects: Sequence[Mapping[str, Any]],
    origins: Sequence[str],
    now: datetime,
) -> str:
    """A Save to Wallet JWT carrying `objects` (whole objects, or `{"id": …}` references)."""
    claims = {
        "iss": account.client_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(now.timestamp()),
        # Links are minted per request (a 302), so they need not live long.
        "exp": int(now.timestamp()) + LINK_TTL_S,
        "origins": list(origins),
        "payload": {PAYLOAD_FIELDS[kind]: [dict(item) for item in objects]},
    }
    return jwt.encode(
        claims,
        account.private_key_pem,
        algorithm="RS256",
        headers={"kid": account.private_key_id},
    )


@dataclass(frozen=True)
class SaveLink:
    jwt: str
    skinny: bool


def choose_save_jwt(
    account: SigningAccount,
    *,
    kind: str,
    google_object: Mapping[str, Any],
    origins: Sequence[str],
    now: datetime,
) -> SaveLink:
    """The full JWT when it is short enough, else the skinny one (the caller then makes sure
    the object exists at Google before handing the link out)."""
    full = save_jwt(account, kind=kind, objects=[google_object], origins=origins, now=now)
    if len(full) <= MAX_JWT_CHARS:
        return SaveLink(full, skinny=False)
    reference = {"id": google_object["id"], "classId": google_object["classId"]}
    return SaveLink(
        save_jwt(account, kind=kind, objects=[reference], origins=origins, now=now),
        skinny=True,
    )


def save_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{token}"
