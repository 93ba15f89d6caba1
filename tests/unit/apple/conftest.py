"""Shared fixtures: RSA key generation is the slow part, so material is made once per session."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dev import testing_certs
from shared.apple.certificates import SigningIdentity, load_identity_from_pem_files
from shared.apple.package import PassTypeAssets
from tests.unit.apple.helpers import make_png


@pytest.fixture(scope="session")
def material() -> testing_certs.TestMaterial:
    return testing_certs.generate_material()


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return testing_certs.new_key()


@pytest.fixture(scope="session")
def pem_paths(
    material: testing_certs.TestMaterial, tmp_path_factory: pytest.TempPathFactory
) -> testing_certs.PemPaths:
    return testing_certs.write_pem_files(material, tmp_path_factory.mktemp("pem"))


@pytest.fixture(scope="session")
def identity(pem_paths: testing_certs.PemPaths) -> SigningIdentity:
    return load_identity_from_pem_files(
        pem_paths.certificate, pem_paths.private_key, pem_paths.wwdr
    )


@pytest.fixture(scope="session")
def asset_files() -> dict[str, bytes]:
    return {
        "icon.png": make_png(29, 29),
        "icon@2x.png": make_png(58, 58),
        "logo.png": make_png(160, 50),
        "en.lproj/pass.strings": '"greeting" = "Hello";\n'.encode("utf-16"),
        "fr.lproj/pass.strings": '"greeting" = "Bonjour";\n'.encode("utf-16"),
    }


@pytest.fixture(scope="session")
def assets(asset_files: dict[str, bytes]) -> PassTypeAssets:
    return PassTypeAssets.prepare(asset_files)


@pytest.fixture
def pass_json(identity: SigningIdentity) -> bytes:
    doc = {
        "formatVersion": 1,
        "passTypeIdentifier": identity.pass_type_identifier,
        "teamIdentifier": identity.team_identifier,
        "serialNumber": "0001",
        "organizationName": "Example Demo",
        "description": "Demo pass",
        "generic": {"primaryFields": [{"key": "name", "value": "Ada"}]},
    }
    return json.dumps(doc).encode()
