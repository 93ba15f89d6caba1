from __future__ import annotations

import hashlib
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from dev import testing_certs
from shared.apple.certificates import SigningIdentity, make_identity
from shared.apple.signing import sign_manifest
from tests.unit.apple.helpers import OPENSSL, needs_openssl, openssl_verify

MANIFEST = b'{"icon.png":"0123456789abcdef0123456789abcdef01234567","pass.json":"aa"}'


def _signing_time(signature: bytes) -> datetime:
    assert OPENSSL
    printed = subprocess.run(
        [OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER"],
        input=signature,
        capture_output=True,
        check=True,
    ).stdout.decode()
    match = re.search(r"signingTime.*?UTCTIME:(.+?) GMT", printed, re.DOTALL)
    assert match, printed
    return datetime.strptime(" ".join(match[1].split()), "%b %d %H:%M:%S %Y").replace(tzinfo=UTC)


@needs_openssl
def test_signature_verifies_and_tampering_fails(
    identity: SigningIdentity, pem_paths: testing_certs.PemPaths, tmp_path: Path
) -> None:
    signature, content = tmp_path / "signature", tmp_path / "manifest.json"
    signature.write_bytes(sign_manifest(MANIFEST, identity))
    content.write_bytes(MANIFEST)
    ok = openssl_verify(signature, content, pem_paths.wwdr)
    assert ok.returncode == 0, ok.stderr

    content.write_bytes(MANIFEST.replace(b"aa", b"ab"))
    tampered = openssl_verify(signature, content, pem_paths.wwdr)
    assert tampered.returncode != 0
    assert "verification failure" in tampered.stderr.lower()


@needs_openssl
def test_signature_from_untrusted_ca_fails(
    identity: SigningIdentity, other_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    stranger, _ = testing_certs.make_wwdr(other_key, common_name="Stranger CA")
    (tmp_path / "ca.pem").write_bytes(testing_certs.certificate_pem(stranger))
    (tmp_path / "signature").write_bytes(sign_manifest(MANIFEST, identity))
    (tmp_path / "manifest.json").write_bytes(MANIFEST)
    result = openssl_verify(tmp_path / "signature", tmp_path / "manifest.json", tmp_path / "ca.pem")
    assert result.returncode != 0


@needs_openssl
def test_verifies_when_wwdr_is_an_intermediate_under_a_root(
    material: testing_certs.TestMaterial, other_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    # Real layout: Apple Root CA -> WWDR -> pass certificate, trusting WWDR alone.
    root = testing_certs.make_wwdr(other_key, common_name="Test Root CA")
    wwdr, wwdr_key = testing_certs.make_wwdr(material.wwdr_key, issuer=root)
    cert, key = testing_certs.make_pass_certificate(wwdr, wwdr_key, key=material.private_key)
    signed = sign_manifest(MANIFEST, make_identity(cert, key, wwdr))
    (tmp_path / "wwdr.pem").write_bytes(testing_certs.certificate_pem(wwdr))
    (tmp_path / "signature").write_bytes(signed)
    (tmp_path / "manifest.json").write_bytes(MANIFEST)
    result = openssl_verify(
        tmp_path / "signature", tmp_path / "manifest.json", tmp_path / "wwdr.pem"
    )
    assert result.returncode == 0, result.stderr


@needs_openssl
def test_signed_attributes_hold_sha256_digest_and_signing_time(identity: SigningIdentity) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    signature = sign_manifest(MANIFEST, identity)
    after = datetime.now(UTC)
    # messageDigest attribute: OCTET STRING (0x04), 32 bytes, SHA-256 of the manifest.
    assert b"\x04\x20" + hashlib.sha256(MANIFEST).digest() in signature
    assert OPENSSL
    printed = subprocess.run(
        [OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER"],
        input=signature,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "messageDigest" in printed
    assert "eContent: <ABSENT>" in printed  # detached
    assert re.search(r"digestAlgorithm:\s*\n\s*algorithm: sha256", printed)
    assert before <= _signing_time(signature) <= after + timedelta(seconds=1)


def test_signature_embeds_wwdr_and_signer_certificates(identity: SigningIdentity) -> None:
    certs = pkcs7.load_der_pkcs7_certificates(sign_manifest(MANIFEST, identity))
    assert identity.wwdr_certificate in certs
    assert identity.certificate in certs


@needs_openssl
def test_signature_is_deterministic_apart_from_signing_time(identity: SigningIdentity) -> None:
    # Same second -> identical bytes; retry if a second boundary falls between the two calls.
    for _ in range(5):
        a, b = sign_manifest(MANIFEST, identity), sign_manifest(MANIFEST, identity)
        if _signing_time(a) == _signing_time(b):
            assert a == b
            return
    raise AssertionError("could not sign twice within one second")
