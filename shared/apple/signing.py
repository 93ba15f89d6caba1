"""Detached PKCS#7 (CMS SignedData) signature of manifest.json, as Wallet expects in `signature`.

Signing time: cryptography's PKCS7SignatureBuilder always adds the signed attributes
contentType, signingTime and messageDigest (SHA-256 of the manifest) unless NoAttributes is
given, and it takes signingTime from the current UTC clock (second precision); there is no
API to set it. Wallet wants a signingTime, so we keep the attributes and accept "now". Apart
from that the output is deterministic: RSA PKCS#1 v1.5 signatures have no randomness, so the
same manifest and identity signed within the same second give identical bytes.

Throughput: the builder does more per call than the one RSA operation a signature needs
(Python-side checks, certificates written out again, attributes encoded through Python
objects): about 15 % on top of the RSA signature. For an RSA identity every byte of its
output other than the signing time, the manifest digest and the RSA signature is the same
for every manifest, and those three have fixed lengths (UTCTime, SHA-256, modulus size). So
once per identity `_DerTemplate.learn` has cryptography sign a probe manifest and cuts that
reference signature around the three fields; a signature is then the template with the
fields filled in, the RSA signature still made by cryptography over the signed attributes.
`learn` accepts the template only if rebuilding the reference from it reproduces
cryptography's bytes exactly; otherwise (or for an EC key, whose signatures vary in length,
or a year UTCTime cannot hold) the builder signs, as before.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from shared.apple.certificates import SigningIdentity

_OPTIONS = (
    pkcs7.PKCS7Options.DetachedSignature,  # Wallet reads the content from manifest.json
    pkcs7.PKCS7Options.Binary,  # sign the exact bytes, no MIME CRLF canonicalisation
    pkcs7.PKCS7Options.NoCapabilities,  # S/MIME capabilities mean nothing to Wallet
)

# DER of the three signed attributes the builder writes, in its order (RFC 5652 §11).
_PKCS9 = bytes.fromhex("06092a864886f70d0109")  # OID 1.2.840.113549.1.9 (PKCS #9) prefix
# contentType = id-data (1.2.840.113549.1.7.1)
_CONTENT_TYPE_ATTR = (
    b"\x30\x18" + _PKCS9 + b"\x03\x31\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01"
)
_SIGNING_TIME_HEAD = b"\x30\x1c" + _PKCS9 + b"\x05\x31\x0f\x17\x0d"  # then 13 bytes YYMMDDHHMMSSZ
_MESSAGE_DIGEST_HEAD = b"\x30\x2f" + _PKCS9 + b"\x04\x31\x22\x04\x20"  # then 32 bytes SHA-256
_ATTRS_LENGTH = (
    len(_CONTENT_TYPE_ATTR) + len(_SIGNING_TIME_HEAD) + 13 + len(_MESSAGE_DIGEST_HEAD) + 32
)
# The SET's length, then the attributes up to the signing time: the same in every signature.
_ATTRS_START = bytes((_ATTRS_LENGTH,)) + _CONTENT_TYPE_ATTR + _SIGNING_TIME_HEAD
_PROBE = b'{"probe":"passwire signature template"}'
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def _builder_signature(manifest: bytes, identity: SigningIdentity) -> bytes:
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(identity.certificate, identity.private_key, hashes.SHA256())
        # Must come last: in cryptography 50 set_data()/add_signer() return a builder that
        # drops certificates added before them.
        .add_certificate(identity.wwdr_certificate)
    )
    return builder.sign(serialization.Encoding.DER, _OPTIONS)


def _utc_time(now: datetime) -> bytes | None:
    """`now` as the builder writes signingTime (DER UTCTime, whole seconds), or None for a
    year UTCTime cannot hold (the builder then writes a GeneralizedTime)."""
    if not 1950 <= now.year < 2050:
        return None
    return now.strftime("%y%m%d%H%M%SZ").encode("ascii")


@dataclass(frozen=True, slots=True)
class _DerTemplate:
    """cryptography's signature for one identity, cut around the per-signature fields:
    head + [0] signed attributes (signing time, digest) + middle + RSA signature."""

    key: rsa.RSAPrivateKey
    head: bytes
    middle: bytes
    signature_length: int

    def signature(self, manifest: bytes, signing_time: bytes) -> bytes:
        # The signature covers the attributes DER-encoded as a SET (RFC 5652 §5.4); the
        # SignerInfo carries the same bytes tagged [0] IMPLICIT.
        attributes = b"".join(
            (_ATTRS_START, signing_time, _MESSAGE_DIGEST_HEAD, hashlib.sha256(manifest).digest())
        )
        rsa_signature = self.key.sign(b"\x31" + attributes, _PKCS1V15, _SHA256)
        if len(rsa_signature) != self.signature_length:  # cannot happen for RSA; be sure
            raise ValueError("unexpected RSA signature length")
        return b"".join((self.head, b"\xa0", attributes, self.middle, rsa_signature))

    @classmethod
    def learn(cls, identity: SigningIdentity) -> _DerTemplate | None:
        """The template for `identity`, or None to keep using the builder."""
        key = identity.private_key
        if not isinstance(key, rsa.RSAPrivateKey):
            return None  # ECDSA signatures are randomised and vary in length
        reference = _builder_signature(_PROBE, identity)
        at = reference.find(_SIGNING_TIME_HEAD)
        if at < 0:
            return None
        at += len(_SIGNING_TIME_HEAD)
        signing_time = reference[at : at + 13]
        attributes = b"".join(
            (
                _CONTENT_TYPE_ATTR,
                _SIGNING_TIME_HEAD,
                signing_time,
                _MESSAGE_DIGEST_HEAD,
                hashlib.sha256(_PROBE).digest(),
            )
        )
        tagged = b"\xa0" + bytes((_ATTRS_LENGTH,)) + attributes
        rsa_signature = key.sign(b"\x31" + tagged[1:], _PKCS1V15, _SHA256)
        start = reference.find(tagged)
        end = len(reference) - len(rsa_signature)
        if (
            len(attributes) != _ATTRS_LENGTH
            or start < 0
            or reference.count(tagged) != 1
            or not reference.endswith(rsa_signature)
            or len(rsa_signature) != key.key_size // 8 + (key.key_size % 8 > 0)
        ):
            return None
        template = cls(
            key, reference[:start], reference[start + len(tagged) : end], len(rsa_signature)
        )
        # Accept only a template that rebuilds cryptography's own signature byte for byte.
        if template.signature(_PROBE, signing_time) != reference:
            return None
        return template


@lru_cache(maxsize=64)  # identities are loaded once per process and kept (IdentityStore)
def _template_for(identity: SigningIdentity) -> _DerTemplate | None:
    return _DerTemplate.learn(identity)


class _SigningTimeText:
    """`_utc_time(now)` for the current second, formatted once per second: every signature
    of that second writes the same 13 bytes. Process-wide and holding only the time: no
    tenant data. A race between threads at most formats a second twice."""

    _cached: tuple[int, bytes | None] = (-1, None)  # one object: read and replaced whole

    @classmethod
    def now(cls) -> bytes | None:
        second = int(time.time())  # cheaper than a datetime on the path of every signature
        cached_second, text = cls._cached
        if second != cached_second:
            text = _utc_time(datetime.fromtimestamp(second, UTC))
            cls._cached = (second, text)
        return text


def sign_manifest(manifest: bytes, identity: SigningIdentity) -> bytes:
    """DER-encoded detached signature over `manifest`, SHA-256, WWDR certificate embedded."""
    template = _template_for(identity)
    signing_time = _SigningTimeText.now() if template is not None else None
    if template is None or signing_time is None:
        return _builder_signature(manifest, identity)
    return template.signature(manifest, signing_time)
