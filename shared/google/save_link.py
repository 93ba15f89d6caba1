"""Save to Google Wallet links: a JWT signed with the issuer's service-account key.

Pure functions. The JWT (RS256, `aud: google`, `typ: savetowallet`, `origins` of the pages
that may show the button) may carry whole objects, which Google creates when the user saves,
or name objects Google already holds ("skinny"). passwire hands out skinny links only: the
object is inserted or brought up to date at Google just before (api/google/save.py), because
a whole object in a JWT does not replace one Google already holds, and a skinny URL stays far
below the ~2,000 characters browsers and Google accept (docs/google.md#save-links).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

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


def skinny_save_jwt(
    account: SigningAccount,
    *,
    kind: str,
    object_id: str,
    class_id: str,
    origins: Sequence[str],
    now: datetime,
) -> str:
    """The Save JWT naming an object Google already holds by id (the caller makes sure it
    does, with its current content: a JWT cannot update an existing object)."""
    reference = {"id": object_id, "classId": class_id}
    return save_jwt(account, kind=kind, objects=[reference], origins=origins, now=now)


def save_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{token}"
