"""Verify the save/delete callbacks Google Wallet POSTs to an issuer (protocol ECv2SigningOnly).

Google signs a callback in two steps, like Google Pay's ECv2 payment-data cryptography minus
the encryption: one of Google's root keys (published as a JSON document, see root_keys.py)
signs a short-lived intermediate key, and that intermediate key signs the message. Both are
ECDSA P-256 with SHA-256, DER-encoded and base64'd, over length-prefixed fields.

Everything here is pure: the caller passes the root keys and the current time, so the same
code serves production, the dev fake and the tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SENDER_ID = "GooglePayPasses"
PROTOCOL_VERSION = "ECv2SigningOnly"
EVENT_SAVE: Final = "save"
EVENT_DELETE: Final = "del"
EventType = Literal["save", "del"]

MAX_BODY_BYTES = 64 * 1024
# Real values are far smaller (a P-256 SPKI is 91 bytes, a DER signature at most 72): the
# bounds only stop a hostile body from making us decode or parse more than it should.
_MAX_SIGNATURE_B64 = 256
_MAX_KEY_B64 = 1024
_MAX_KEY_SIGNATURES = 8
_MAX_SIGNED_KEY_CHARS = 4 * 1024
_MAX_SIGNED_MESSAGE_CHARS = 16 * 1024
_MAX_ID_CHARS = 1024
# Milliseconds since the epoch as Google writes them: a decimal string (or a JSON number).
_MILLIS = re.compile(r"[0-9]{1,15}")

# Reasons are short and reveal nothing secret: the endpoint may log them or answer with them.
REASON_TOO_LARGE = "body too large"
REASON_NOT_JSON = "body is not JSON"
REASON_MALFORMED = "missing or malformed fields"
REASON_PROTOCOL = "unsupported protocol version"
REASON_NO_ROOT_SIGNATURE = "no valid root signature"
REASON_BAD_INTERMEDIATE_KEY = "malformed intermediate signing key"
REASON_INTERMEDIATE_EXPIRED = "intermediate signing key expired"
REASON_BAD_SIGNATURE = "bad message signature"
REASON_BAD_MESSAGE = "malformed signed message"
REASON_MESSAGE_EXPIRED = "message expired"
REASON_EVENT_TYPE = "unknown event type"
REASON_NO_NONCE = "missing nonce"


class CallbackRejected(Exception):
    """The callback is not authentic, not current or not well-formed; `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RootKey:
    """One of Google's root signing keys, trusted until `expiration_ms` (ms since the epoch)."""

    public_key: ec.EllipticCurvePublicKey
    expiration_ms: int

    def is_valid_at(self, now_ms: int) -> bool:
        return now_ms < self.expiration_ms


@dataclass(frozen=True)
class CallbackMessage:
    """What a verified callback says: a user saved ("save") or deleted ("del") an object."""

    class_id: str
    object_id: str
    event_type: EventType
    # Google may deliver the same event more than once; the nonce identifies it.
    nonce: str
    exp_time_ms: int


@dataclass(frozen=True)
class _Envelope:
    protocol_version: str
    signature: bytes
    signed_key: str
    key_signatures: tuple[bytes, ...]
    signed_message: str


def length_prefixed(*fields: str) -> bytes:
    """The bytes ECv2 signs: each field as a 4-byte little-endian length, then its UTF-8."""
    out = bytearray()
    for field in fields:
        encoded = field.encode("utf-8")
        out += struct.pack("<I", len(encoded))
        out += encoded
    return bytes(out)


def parse_root_keys(document: Mapping[str, Any]) -> list[RootKey]:
    """The ECv2SigningOnly keys of a root keys document (`{"keys": [...]}`).

    Keys of other protocol versions (Google Pay's ECv1/ECv2) and malformed entries are
    skipped; a document without a `keys` list raises ValueError.
    """
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("the root keys document has no 'keys' list")
    keys: list[RootKey] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("protocolVersion") != PROTOCOL_VERSION:
            continue
        public_key = _p256_public_key(entry.get("keyValue"))
        expiration_ms = _millis(entry.get("keyExpiration"))
        if public_key is not None and expiration_ms is not None:
            keys.append(RootKey(public_key=public_key, expiration_ms=expiration_ms))
    return keys


def verify_callback(
    body: bytes | Mapping[str, Any],
    *,
    root_keys: Sequence[RootKey],
    recipient_id: str,
    now_ms: int,
    sender_id: str = SENDER_ID,
) -> CallbackMessage:
    """The message of an authentic, current callback, or CallbackRejected.

    `body` is the raw POST body (or its already-parsed JSON); `recipient_id` is the issuer id
    the callback must have been signed for.
    """
    envelope = _envelope(body)
    if envelope.protocol_version != PROTOCOL_VERSION:
        raise CallbackRejected(REASON_PROTOCOL)
    intermediate_key = _trusted_intermediate_key(envelope, root_keys, sender_id, now_ms)
    signed = length_prefixed(sender_id, recipient_id, PROTOCOL_VERSION, envelope.signed_message)
    if not _verifies(intermediate_key, envelope.signature, signed):
        raise CallbackRejected(REASON_BAD_SIGNATURE)
    return _message(envelope.signed_message, now_ms)


def _envelope(body: bytes | Mapping[str, Any]) -> _Envelope:
    if isinstance(body, bytes | bytearray):
        document = _json_object(bytes(body))
    elif isinstance(body, Mapping):
        document = body
    else:  # whatever a framework parsed that is not a JSON object
        raise CallbackRejected(REASON_NOT_JSON)
    intermediate = document.get("intermediateSigningKey")
    if not isinstance(intermediate, Mapping):
        raise CallbackRejected(REASON_MALFORMED)
    protocol_version = document.get("protocolVersion")
    signature = _b64(document.get("signature"), _MAX_SIGNATURE_B64)
    signed_key = _bounded_str(intermediate.get("signedKey"), _MAX_SIGNED_KEY_CHARS)
    key_signatures = _signature_list(intermediate.get("signatures"))
    signed_message = _bounded_str(document.get("signedMessage"), _MAX_SIGNED_MESSAGE_CHARS)
    if (
        not isinstance(protocol_version, str)
        or signature is None
        or signed_key is None
        or key_signatures is None
        or signed_message is None
    ):
        raise CallbackRejected(REASON_MALFORMED)
    return _Envelope(protocol_version, signature, signed_key, key_signatures, signed_message)


def _json_object(body: bytes) -> Mapping[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRejected(REASON_TOO_LARGE)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise CallbackRejected(REASON_NOT_JSON) from None
    if not isinstance(document, dict):
        raise CallbackRejected(REASON_NOT_JSON)
    return document


def _trusted_intermediate_key(
    envelope: _Envelope, root_keys: Sequence[RootKey], sender_id: str, now_ms: int
) -> ec.EllipticCurvePublicKey:
    """Steps 1 and 2: a current root key signed the intermediate key, which has not expired."""
    signed = length_prefixed(sender_id, PROTOCOL_VERSION, envelope.signed_key)
    current_roots = [root for root in root_keys if root.is_valid_at(now_ms)]
    if not any(
        _verifies(root.public_key, signature, signed)
        for root in current_roots
        for signature in envelope.key_signatures
    ):
        raise CallbackRejected(REASON_NO_ROOT_SIGNATURE)
    # Only now, signed by Google, is the key's own JSON worth parsing.
    signed_key = _json_object_or_none(envelope.signed_key)
    if signed_key is None:
        raise CallbackRejected(REASON_BAD_INTERMEDIATE_KEY)
    public_key = _p256_public_key(signed_key.get("keyValue"))
    expiration_ms = _millis(signed_key.get("keyExpiration"))
    if public_key is None or expiration_ms is None:
        raise CallbackRejected(REASON_BAD_INTERMEDIATE_KEY)
    if expiration_ms <= now_ms:
        raise CallbackRejected(REASON_INTERMEDIATE_EXPIRED)
    return public_key


def _message(signed_message: str, now_ms: int) -> CallbackMessage:
    """Step 5 and the callback's own fields, read from the (already verified) message."""
    message = _json_object_or_none(signed_message)
    if message is None:
        raise CallbackRejected(REASON_BAD_MESSAGE)
    class_id = _bounded_str(message.get("classId"), _MAX_ID_CHARS)
    object_id = _bounded_str(message.get("objectId"), _MAX_ID_CHARS)
    exp_time_ms = _millis(message.get("expTimeMillis"))
    if not class_id or not object_id or exp_time_ms is None:
        raise CallbackRejected(REASON_BAD_MESSAGE)
    if exp_time_ms <= now_ms:
        raise CallbackRejected(REASON_MESSAGE_EXPIRED)
    event_type = message.get("eventType")
    if event_type not in (EVENT_SAVE, EVENT_DELETE):
        raise CallbackRejected(REASON_EVENT_TYPE)
    nonce = _bounded_str(message.get("nonce"), _MAX_ID_CHARS)
    if not nonce:
        raise CallbackRejected(REASON_NO_NONCE)
    return CallbackMessage(
        class_id=class_id,
        object_id=object_id,
        event_type=EVENT_SAVE if event_type == EVENT_SAVE else EVENT_DELETE,
        nonce=nonce,
        exp_time_ms=exp_time_ms,
    )


def _verifies(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _p256_public_key(value: object) -> ec.EllipticCurvePublicKey | None:
    """A base64 X.509 SubjectPublicKeyInfo holding a P-256 key, else None."""
    der = _b64(value, _MAX_KEY_B64)
    if der is None:
        return None
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key


def _signature_list(value: object) -> tuple[bytes, ...] | None:
    if not isinstance(value, list) or len(value) > _MAX_KEY_SIGNATURES:
        return None
    decoded = [_b64(item, _MAX_SIGNATURE_B64) for item in value]
    if any(item is None for item in decoded):
        return None
    return tuple(item for item in decoded if item is not None)


def _json_object_or_none(text: str) -> Mapping[str, Any] | None:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _b64(value: object, max_chars: int) -> bytes | None:
    """Standard base64 (as Google writes it), bounded before decoding."""
    if not isinstance(value, str) or len(value) > max_chars:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _bounded_str(value: object, max_chars: int) -> str | None:
    return value if isinstance(value, str) and len(value) <= max_chars else None


def _millis(value: object) -> int | None:
    if isinstance(value, bool):  # JSON true is not a time
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and _MILLIS.fullmatch(value):
        return int(value)
    return None
