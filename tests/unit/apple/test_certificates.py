from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dev import testing_certs
from shared.apple.certificates import (
    MaterialSources,
    SigningIdentity,
    SigningMaterialError,
    load_identity_from_pem,
    load_identity_from_pem_files,
    load_identity_from_pkcs12,
    load_identity_from_pkcs12_file,
    make_identity,
    require_valid,
    validate_identity,
)

SOURCES = MaterialSources("cert.pem", "key.pem", "wwdr.pem")


def test_identifiers_come_from_certificate_subject(identity: SigningIdentity) -> None:
    assert identity.pass_type_identifier == "pass.com.example.demo"
    assert identity.team_identifier == "TEAMID1234"
    assert validate_identity(identity, expected_pass_type_identifier="pass.com.example.demo") == []
    assert require_valid(identity) is identity


def test_expired_and_not_yet_valid_certificate(material: testing_certs.TestMaterial) -> None:
    past = datetime.now(UTC) - timedelta(days=30)
    expired, _ = testing_certs.make_pass_certificate(
        material.wwdr_certificate,
        material.wwdr_key,
        key=material.private_key,
        not_before=past - timedelta(days=365),
        not_after=past,
    )
    identity = make_identity(
        expired, material.private_key, material.wwdr_certificate, sources=SOURCES
    )
    [problem] = validate_identity(identity)
    assert problem.startswith("cert.pem: certificate expired on")
    with pytest.raises(SigningMaterialError, match="expired") as info:
        require_valid(identity)
    assert info.value.source == "cert.pem"

    fresh = make_identity(material.certificate, material.private_key, material.wwdr_certificate)
    [problem] = validate_identity(fresh, now=datetime.now(UTC) - timedelta(hours=2))
    assert "certificate not valid before" in problem  # cert starts 1 h back, WWDR 1 day


def test_mismatched_private_key(
    material: testing_certs.TestMaterial, other_key: rsa.RSAPrivateKey
) -> None:
    identity = make_identity(
        material.certificate, other_key, material.wwdr_certificate, sources=SOURCES
    )
    assert validate_identity(identity) == [
        "key.pem: private key does not match the certificate in cert.pem"
    ]


def test_wwdr_that_did_not_issue_the_certificate(
    material: testing_certs.TestMaterial, other_key: rsa.RSAPrivateKey
) -> None:
    # Same subject name as the real issuer, different key: only the signature check catches it.
    impostor, _ = testing_certs.make_wwdr(other_key)
    identity = make_identity(material.certificate, material.private_key, impostor, sources=SOURCES)
    [problem] = validate_identity(identity)
    assert problem.startswith("wwdr.pem: WWDR certificate")
    assert "did not issue the certificate in cert.pem" in problem

    stranger, _ = testing_certs.make_wwdr(other_key, common_name="Someone Else CA")
    identity = make_identity(material.certificate, material.private_key, stranger, sources=SOURCES)
    assert len(validate_identity(identity)) == 1


def test_pass_type_identifier_mismatch(identity: SigningIdentity) -> None:
    [problem] = validate_identity(identity, expected_pass_type_identifier="pass.com.example.other")
    assert "'pass.com.example.demo', expected 'pass.com.example.other'" in problem


def test_pkcs12_with_password(material: testing_certs.TestMaterial, tmp_path: Path) -> None:
    p12 = testing_certs.to_pkcs12(material, b"s3cret")
    identity = load_identity_from_pkcs12(p12, b"s3cret")
    assert identity.pass_type_identifier == "pass.com.example.demo"
    assert identity.wwdr_certificate == material.wwdr_certificate
    assert validate_identity(identity) == []

    with pytest.raises(SigningMaterialError, match="wrong password"):
        load_identity_from_pkcs12(p12, b"nope")

    path = tmp_path / "pass.p12"
    path.write_bytes(testing_certs.to_pkcs12(material, b"s3cret", include_wwdr=False))
    with pytest.raises(SigningMaterialError, match="does not contain the WWDR") as info:
        load_identity_from_pkcs12_file(path, b"s3cret")
    assert str(path) in str(info.value)
    wwdr = tmp_path / "wwdr.pem"
    wwdr.write_bytes(testing_certs.certificate_pem(material.wwdr_certificate))
    identity = load_identity_from_pkcs12_file(path, b"s3cret", wwdr_path=wwdr)
    assert identity.sources.wwdr == str(wwdr)
    assert validate_identity(identity) == []


def test_encrypted_pem_key(material: testing_certs.TestMaterial) -> None:
    cert = testing_certs.certificate_pem(material.certificate)
    key = testing_certs.private_key_pem(material.private_key, b"pw")
    wwdr_der = material.wwdr_certificate.public_bytes(serialization.Encoding.DER)
    identity = load_identity_from_pem(cert, key, wwdr_der, key_password=b"pw", sources=SOURCES)
    assert validate_identity(identity) == []
    with pytest.raises(SigningMaterialError, match=r"^key\.pem: "):
        load_identity_from_pem(cert, key, wwdr_der, key_password=b"wrong", sources=SOURCES)
    with pytest.raises(SigningMaterialError, match=r"^key\.pem: .*password"):
        load_identity_from_pem(cert, key, wwdr_der, sources=SOURCES)


def test_errors_name_the_file(pem_paths: testing_certs.PemPaths, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(SigningMaterialError, match="cannot read file") as info:
        load_identity_from_pem_files(missing, pem_paths.private_key, pem_paths.wwdr)
    assert info.value.source == str(missing)

    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate")
    with pytest.raises(SigningMaterialError, match="not a PEM or DER") as info:
        load_identity_from_pem_files(pem_paths.certificate, pem_paths.private_key, garbage)
    assert str(info.value).startswith(f"{garbage}: ")


def test_certificate_without_uid_is_rejected(material: testing_certs.TestMaterial) -> None:
    # The WWDR certificate has no UID in its subject: not a Pass Type ID certificate.
    with pytest.raises(SigningMaterialError, match="no UID"):
        make_identity(material.wwdr_certificate, material.wwdr_key, material.wwdr_certificate)
