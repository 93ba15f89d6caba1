"""Sign Google Wallet save/delete callbacks the way Google does, for the dev fake and tests.

A throwaway root key stands in for Google's: publish it with root_keys_document (served where
RootKeyCache fetches from), then sign callbacks with sign_callback. `tamper` makes the
forgeries an endpoint must reject:

- "message":      the signed message is changed after signing (a save turned into a delete);
- "signature":    the message is signed by a key other than the intermediate key;
- "intermediate": the intermediate key is signed by a key other than the root key;
- "unsigned":     both signatures are left empty.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.google.callbacks import (
    EVENT_DELETE,
    EVENT_SAVE,
    PROTOCOL_VERSION,
    SENDER_ID,
    EventType,
    length_prefixed,
)

Tamper = Literal["none", "message", "signature", "intermediate", "unsigned"]
TAMPER_MODES: tuple[Tamper, ...] = ("none", "message", "signature", "intermediate", "unsigned")

_DAY_MS = 86_400_000
_MINUTE_MS = 60_000


@dataclass(frozen=True)
class SigningKeys:
    """A stand-in for Google's root key and the intermediate key it vouches for."""

    root_private_key: ec.EllipticCurvePrivateKey
    root_expiration_ms: int
    intermediate_private_key: ec.EllipticCurvePrivateKey
    intermediate_expiration_ms: int


def new_signing_keys(
    *,
    now_ms: int | None = None,
    root_validity_ms: int = 365 * _DAY_MS,
    intermediate_validity_ms: int = 7 * _DAY_MS,
) -> SigningKeys:
    now_ms = _now_ms() if now_ms is None else now_ms
    return SigningKeys(
        root_private_key=_new_key(),
        root_expiration_ms=now_ms + root_validity_ms,
        intermediate_private_key=_new_key(),
        intermediate_expiration_ms=now_ms + intermediate_validity_ms,
    )


def root_keys_document(
    keys: SigningKeys, *, protocol_version: str = PROTOCOL_VERSION
) -> dict[str, Any]:
    """The document Google publishes at its root keys URL, listing our stand-in root key."""
    return {
        "keys": [
            {
                "keyValue": _spki_b64(keys.root_private_key.public_key()),
                "protocolVersion": protocol_version,
                "keyExpiration": str(keys.root_expiration_ms),
            }
        ]
    }


def callback_message(
    *,
    class_id: str,
    object_id: str,
    event_type: EventType,
    now_ms: int | None = None,
    nonce: str | None = None,
    valid_for_ms: int = 5 * _MINUTE_MS,
) -> dict[str, Any]:
    """A callback's message as Google writes it, with a fresh nonce unless one is given."""
    if event_type not in (EVENT_SAVE, EVENT_DELETE):
        raise ValueError(f"event_type must be {EVENT_SAVE!r} or {EVENT_DELETE!r}")
    now_ms = _now_ms() if now_ms is None else now_ms
    return {
        "classId": class_id,
        "objectId": object_id,
        "expTimeMillis": now_ms + valid_for_ms,
        "eventType": event_type,
        "nonce": nonce or str(uuid.uuid4()),
    }


def sign_callback(
    message: Mapping[str, Any],
    *,
    keys: SigningKeys,
    recipient_id: str,
    tamper: Tamper = "none",
    intermediate_expiration_ms: int | None = None,
    sender_id: str = SENDER_ID,
) -> dict[str, Any]:
    """The JSON body Google would POST for `message`, signed for issuer `recipient_id`."""
    if tamper not in TAMPER_MODES:
        raise ValueError(f"tamper must be one of {', '.join(TAMPER_MODES)}")
    if intermediate_expiration_ms is None:
        intermediate_expiration_ms = keys.intermediate_expiration_ms
    signed_key = _compact_json(
        {
            "keyValue": _spki_b64(keys.intermediate_private_key.public_key()),
            "keyExpiration": str(intermediate_expiration_ms),
        }
    )
    signed_message = _compact_json(message)

    key_signer = _new_key() if tamper == "intermediate" else keys.root_private_key
    message_signer = _new_key() if tamper == "signature" else keys.intermediate_private_key
    key_signatures = [_sign(key_signer, length_prefixed(sender_id, PROTOCOL_VERSION, signed_key))]
    signature = _sign(
        message_signer,
        length_prefixed(sender_id, recipient_id, PROTOCOL_VERSION, signed_message),
    )

    if tamper == "message":
        signed_message = _compact_json(_turned_around(message))
    if tamper == "unsigned":
        signature, key_signatures = "", []
    return {
        "signature": signature,
        "intermediateSigningKey": {
            "signedKey": signed_key,
            "signatures": key_signatures,
        },
        "protocolVersion": PROTOCOL_VERSION,
        "signedMessage": signed_message,
    }


def _turned_around(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message with its event flipped: still well-formed, no longer what was signed."""
    flipped = EVENT_DELETE if message.get("eventType") == EVENT_SAVE else EVENT_SAVE
    return {**message, "eventType": flipped}


def _sign(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    # cryptography writes ECDSA signatures DER-encoded, as Google does.
    return base64.b64encode(private_key.sign(data, ec.ECDSA(hashes.SHA256()))).decode("ascii")


def _spki_b64(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def _compact_json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), separators=(",", ":"))


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
