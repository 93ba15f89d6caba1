"""Detached PKCS#7 (CMS SignedData) signature of manifest.json, as Wallet expects in `signature`.

Signing time: cryptography's PKCS7SignatureBuilder always adds the signed attributes
contentType, signingTime and messageDigest (SHA-256 of the manifest) unless NoAttributes is
given, and it takes signingTime from the current UTC clock (second precision); there is no
API to set it. Wallet wants a signingTime, so we keep the attributes and accept "now". Apart
from that the output is deterministic: RSA PKCS#1 v1.5 signatures have no randomness, so the
same manifest and identity signed within the same second give identical bytes.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from shared.apple.certificates import SigningIdentity

_OPTIONS = (
    pkcs7.PKCS7Options.DetachedSignature,  # Wallet reads the content from manifest.json
    pkcs7.PKCS7Options.Binary,  # sign the exact bytes, no MIME CRLF canonicalisation
    pkcs7.PKCS7Options.NoCapabilities,  # S/MIME capabilities mean nothing to Wallet
)


def sign_manifest(manifest: bytes, identity: SigningIdentity) -> bytes:
    """DER-encoded detached signature over `manifest`, SHA-256, WWDR certificate embedded."""
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(identity.certificate, identity.private_key, hashes.SHA256())
        # Must come last: in cryptography 50 set_data()/add_signer() return a builder that
        # drops certificates added before them.
        .add_certificate(identity.wwdr_certificate)
    )
    return builder.sign(serialization.Encoding.DER, _OPTIONS)
