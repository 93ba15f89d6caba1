"""A rendition carries the signing identity it was rendered for: signing it asks the identity
store nothing, signs with the certificate whose
identifiers pass.json holds even if the files rotate in between, and still verifies."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7

from config.settings import CONFIG_DIR
from dev import testing_certs
from shared.apple import issuing
from shared.apple.certificates import SigningIdentity
from shared.infra.clock import utcnow
from shared.passes.documents import new_pass_document
from shared.tenancy.tenants import Tenant, load_registry
from tests.unit.apple.helpers import needs_openssl, openssl_verify

URL = "https://passes.example.com/apple/demo"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Tenant, list[str]]:
    """The demo tenant, and the pass type identifiers its identity store is asked for."""
    testing_certs.write_pem_files(testing_certs.generate_material(), tmp_path)
    monkeypatch.setenv("PASSWIRE_DEV_CERTS_DIR", str(tmp_path))
    tenant = load_registry(CONFIG_DIR / "tenants", include_local_only=True).get("demo")
    assert tenant is not None
    store, asked = tenant.apple_identities, []
    lookup = store.get

    def counted(pass_type_identifier: str) -> SigningIdentity:
        asked.append(pass_type_identifier)
        return lookup(pass_type_identifier)

    monkeypatch.setattr(store, "get", counted)
    return tenant, asked


def render(tenant: Tenant) -> issuing.AppleRendition:
    document: dict[str, Any] = new_pass_document(
        pass_id="PASS-IDENTITY-1",
        tenant_id="demo",
        pass_type="loyalty",
        identifiers={"crm": "C-1"},
        metadata={"store": "Gare du Nord"},
        additional_data={"points": 12},
        correlation_id="0" * 32,
        now=utcnow(),
    )
    pass_type = tenant.pass_types["loyalty"]
    rendition = issuing.render(tenant, pass_type, document, web_service_url=URL, external={},
                               now=utcnow())  # fmt: skip
    assert rendition is not None
    return rendition


def test_signing_a_rendition_asks_the_store_nothing(demo: tuple[Tenant, list[str]]) -> None:
    tenant, asked = demo
    rendition = render(tenant)
    assert len(asked) == 1  # the render's own lookup
    signed = issuing.sign(tenant, tenant.pass_types["loyalty"], rendition)
    assert len(asked) == 1
    assert rendition.identity is not None
    assert signed.pass_json == rendition.pass_json


def test_a_rendition_without_its_identity_is_signed_with_the_stores(
    demo: tuple[Tenant, list[str]],
) -> None:
    tenant, asked = demo
    rendition = render(tenant)
    carried = issuing.sign(tenant, tenant.pass_types["loyalty"], rendition)
    looked_up = issuing.sign(
        tenant, tenant.pass_types["loyalty"], dataclasses.replace(rendition, identity=None)
    )
    assert len(asked) == 2
    assert looked_up.manifest == carried.manifest
    assert len(looked_up.signature) == len(carried.signature)


@needs_openssl
def test_a_pass_is_signed_by_the_certificate_it_was_rendered_for(
    demo: tuple[Tenant, list[str]], tmp_path: Path
) -> None:
    tenant, _ = demo
    rendition = render(tenant)
    assert rendition.identity is not None
    rendered_for = rendition.identity.certificate
    # The files rotate between render and sign (same pass type, new key and certificate).
    rotated = testing_certs.generate_material()
    testing_certs.write_pem_files(rotated, tmp_path)
    signed = issuing.sign(tenant, tenant.pass_types["loyalty"], rendition)

    signature, manifest = tmp_path / "signature", tmp_path / "manifest.json"
    signature.write_bytes(signed.signature)
    manifest.write_bytes(signed.manifest)
    ca = tmp_path / "rendered-wwdr.pem"
    ca.write_bytes(testing_certs.certificate_pem(rendition.identity.wwdr_certificate))
    result = openssl_verify(signature, manifest, ca)
    assert result.returncode == 0, result.stderr
    embedded = pkcs7.load_der_pkcs7_certificates(signed.signature)
    assert rendered_for in embedded
    assert rotated.certificate not in embedded
