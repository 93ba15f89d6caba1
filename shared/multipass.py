"""Several passes in one download: Apple's `.pkpasses` bundle and one Save to Google Wallet
JWT naming every object. Pure functions.

Apple: a bundle is a zip of `.pkpass` files served as `application/vnd.apple.pkpasses`;
Wallet takes at most 10 passes or 150 MB in one bundle. passwire takes the same 10 for
Google, so one link means the same set in both wallets.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import datetime

import jwt

from shared.google.save_link import LINK_TTL_S, PAYLOAD_FIELDS, SigningAccount

PKPASSES_MEDIA_TYPE = "application/vnd.apple.pkpasses"
MAX_PASSES = 10
MAX_BUNDLE_BYTES = 150 * 1024 * 1024
ID_SEPARATOR = ","


class BadPassList(ValueError):
    """A list of pass ids passwire does not serve; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_pass_list(raw: str) -> bool:
    """Whether a path's pass id names several passes (`id1,id2`)."""
    return ID_SEPARATOR in raw


def split_pass_ids(raw: str) -> list[str]:
    """`id1,id2,…` → the ids in order; BadPassList for more than MAX_PASSES, an empty item or
    a repeated id."""
    ids = raw.split(ID_SEPARATOR)
    if len(ids) > MAX_PASSES:
        raise BadPassList(f"at most {MAX_PASSES} passes in one download, got {len(ids)}")
    if any(not item for item in ids):
        raise BadPassList("an empty pass id (two commas, or one at an end)")
    repeated = sorted({item for item in ids if ids.count(item) > 1})
    if repeated:
        raise BadPassList("repeated: " + ", ".join(repeated))
    return ids


def pkpasses_bundle(named: Sequence[tuple[str, bytes]]) -> bytes:
    """A `.pkpasses` zip of (pass id, .pkpass bytes); stored, not deflated (a .pkpass is a
    zip already). BadPassList when it would pass Apple's size limit."""
    if sum(len(body) for _, body in named) > MAX_BUNDLE_BYTES:
        raise BadPassList(f"the bundle would pass Apple's {MAX_BUNDLE_BYTES} bytes")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as bundle:
        for pass_id, body in named:
            bundle.writestr(f"{pass_id}.pkpass", body)
    return out.getvalue()


def multi_save_jwt(
    account: SigningAccount,
    *,
    objects: Sequence[tuple[str, str, str]],
    origins: Sequence[str],
    now: datetime,
) -> str:
    """One Save to Wallet JWT naming every (kind, object id, class id): the objects must
    exist at Google already (references keep the link short whatever the count)."""
    payload: dict[str, list[dict[str, str]]] = {}
    for kind, object_id, class_id in objects:
        payload.setdefault(PAYLOAD_FIELDS[kind], []).append({"id": object_id, "classId": class_id})
    claims = {
        "iss": account.client_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + LINK_TTL_S,
        "origins": list(origins),
        "payload": payload,
    }
    return jwt.encode(
        claims, account.private_key_pem, algorithm="RS256", headers={"kid": account.private_key_id}
    )
