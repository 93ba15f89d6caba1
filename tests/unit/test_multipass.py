"""Pure pieces of links and multi-pass downloads: pass lists, the .pkpasses bundle, the Save
JWT naming several objects, and link tags."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.attribution import BadTags, parse_tags
from shared.google.save_link import SigningAccount
from shared.multipass import (
    MAX_PASSES,
    BadPassList,
    is_pass_list,
    multi_save_jwt,
    pkpasses_bundle,
    split_pass_ids,
)


def test_pass_lists() -> None:
    assert not is_pass_list("abcdef")
    assert is_pass_list("abcdef,ghijkl")
    assert split_pass_ids("b1,a2,c3") == ["b1", "a2", "c3"]
    assert len(split_pass_ids(",".join(f"p{n}" for n in range(MAX_PASSES)))) == MAX_PASSES
    for raw, reason in (
        (",".join(f"p{n}" for n in range(MAX_PASSES + 1)), "at most 10 passes"),
        ("a1,,b2", "empty"),
        ("a1,b2,", "empty"),
        ("a1,b2,a1", "repeated: a1"),
    ):
        with pytest.raises(BadPassList, match=reason):
            split_pass_ids(raw)


def test_a_bundle_is_a_stored_zip_of_named_pkpass_files() -> None:
    bundle = pkpasses_bundle([("one", b"PK-first"), ("two", b"PK-second")])
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.namelist() == ["one.pkpass", "two.pkpass"]
        assert archive.read("two.pkpass") == b"PK-second"
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_one_save_jwt_names_every_object_by_kind() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = SigningAccount("sa@example.iam.gserviceaccount.com", "kid-1", pem)
    objects = [("loyalty", "1.a", "1.c"), ("offer", "1.b", "1.o"), ("loyalty", "1.d", "1.c")]
    token = multi_save_jwt(
        account, objects=objects, origins=["https://a.test"], now=datetime.now(UTC)
    )
    claims = jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="google")
    assert jwt.get_unverified_header(token)["kid"] == "kid-1"
    assert claims["typ"] == "savetowallet" and claims["origins"] == ["https://a.test"]
    assert claims["payload"] == {
        "loyaltyObjects": [{"id": "1.a", "classId": "1.c"}, {"id": "1.d", "classId": "1.c"}],
        "offerObjects": [{"id": "1.b", "classId": "1.o"}],
    }


def test_tags() -> None:
    assert parse_tags(None) == ()
    assert parse_tags("march-email,vip,march-email") == ("march-email", "vip")
    for raw in ("", "a,,b", "no spaces", ",".join(f"t{n}" for n in range(11)), "x" * 65):
        with pytest.raises(BadTags):
            parse_tags(raw)
