from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest

from dev import testing_certs
from shared.apple.certificates import SigningIdentity
from shared.apple.package import PassPackageError, PassTypeAssets, build_pkpass, sign_pass
from tests.unit.apple.helpers import make_png, needs_openssl, openssl_verify, sha1


def _open(pkpass: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(pkpass))


def test_zip_holds_every_file_listed_in_manifest(
    pass_json: bytes,
    assets: PassTypeAssets,
    identity: SigningIdentity,
    asset_files: dict[str, bytes],
) -> None:
    zf = _open(build_pkpass(pass_json, assets, identity))
    names = zf.namelist()
    assert names[-3:] == ["pass.json", "manifest.json", "signature"]
    manifest = json.loads(zf.read("manifest.json"))
    assert set(manifest) == set(asset_files) | {"pass.json"}
    assert set(names) == set(manifest) | {"manifest.json", "signature"}
    for name, digest in manifest.items():
        assert sha1(zf.read(name)) == digest
    assert zf.read("pass.json") == pass_json
    assert zf.testzip() is None


def test_png_is_stored_and_text_is_deflated(
    pass_json: bytes, assets: PassTypeAssets, identity: SigningIdentity
) -> None:
    infos = {i.filename: i for i in _open(build_pkpass(pass_json, assets, identity)).infolist()}
    for name, info in infos.items():
        if name.endswith(".png"):
            assert info.compress_type == zipfile.ZIP_STORED, name
    for name in ("pass.json", "manifest.json", "en.lproj/pass.strings"):
        assert infos[name].compress_type == zipfile.ZIP_DEFLATED, name


@needs_openssl
def test_signature_in_package_verifies(
    pass_json: bytes,
    assets: PassTypeAssets,
    identity: SigningIdentity,
    pem_paths: testing_certs.PemPaths,
    tmp_path: Path,
) -> None:
    _open(build_pkpass(pass_json, assets, identity)).extractall(tmp_path)
    result = openssl_verify(tmp_path / "signature", tmp_path / "manifest.json", pem_paths.wwdr)
    assert result.returncode == 0, result.stderr


def test_extra_files_join_the_manifest(
    pass_json: bytes, assets: PassTypeAssets, identity: SigningIdentity
) -> None:
    thumb = make_png(90, 90)
    zf = _open(build_pkpass(pass_json, assets, identity, extra_files={"thumbnail.png": thumb}))
    assert json.loads(zf.read("manifest.json"))["thumbnail.png"] == sha1(thumb)
    assert zf.getinfo("thumbnail.png").compress_type == zipfile.ZIP_STORED
    with pytest.raises(PassPackageError, match="clash"):
        build_pkpass(pass_json, assets, identity, extra_files={"icon.png": thumb})


def test_zip_is_deterministic_apart_from_signature(
    pass_json: bytes, assets: PassTypeAssets, identity: SigningIdentity
) -> None:
    a, b = (
        _open(build_pkpass(pass_json, assets, identity)),
        _open(build_pkpass(pass_json, assets, identity)),
    )
    for info in a.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        if info.filename != "signature":
            assert a.read(info.filename) == b.read(info.filename)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"passTypeIdentifier": "pass.com.other"}, "passTypeIdentifier"),
        ({"teamIdentifier": "OTHERTEAM"}, "teamIdentifier"),
    ],
)
def test_pass_json_identifiers_must_match_certificate(
    pass_json: bytes,
    assets: PassTypeAssets,
    identity: SigningIdentity,
    change: dict[str, str],
    message: str,
) -> None:
    doc = json.loads(pass_json) | change
    with pytest.raises(PassPackageError, match=message):
        build_pkpass(json.dumps(doc).encode(), assets, identity)
    with pytest.raises(PassPackageError, match="JSON"):
        build_pkpass(b"{not json", assets, identity)


def test_identifiers_the_renderer_wrote_must_match_certificate(
    pass_json: bytes, assets: PassTypeAssets, identity: SigningIdentity
) -> None:
    # The render path records what it wrote instead of having signing parse pass.json again.
    written = (identity.pass_type_identifier, identity.team_identifier)
    signed = sign_pass(pass_json, assets, identity, written_identifiers=written)
    assert signed.manifest == sign_pass(pass_json, assets, identity).manifest
    for other in ((written[0], "OTHERTEAM"), ("pass.com.other", written[1])):
        with pytest.raises(PassPackageError, match="certificate says"):
            sign_pass(pass_json, assets, identity, written_identifiers=other)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"logo.png": b"x"}, "icon.png"),
        ({"icon.png": b"x", "pass.json": b"{}"}, "per pass"),
        ({"icon.png": b"x", "signature": b""}, "generated"),
        ({"icon.png": b"x", "images/logo.png": b""}, "lproj"),
    ],
)
def test_assets_are_validated(files: dict[str, bytes], message: str) -> None:
    with pytest.raises(PassPackageError, match=message):
        PassTypeAssets.prepare(files)


def test_assets_precompute_digests_and_archive(
    asset_files: dict[str, bytes], assets: PassTypeAssets
) -> None:
    assert dict(assets.digests) == {name: sha1(data) for name, data in asset_files.items()}
    with pytest.raises(TypeError):
        assets.digests["icon.png"] = "0" * 40  # type: ignore[index]
    static = _open(assets.archive)
    assert sorted(static.namelist()) == sorted(asset_files)
    assert all(static.read(name) == data for name, data in asset_files.items())


def test_building_passes_leaves_shared_assets_untouched(
    pass_json: bytes, assets: PassTypeAssets, identity: SigningIdentity
) -> None:
    before = assets.archive
    pkpass = build_pkpass(pass_json, assets, identity, extra_files={"strip.png": make_png(8, 8)})
    assert assets.archive is before
    (central_directory,) = struct.unpack("<I", before[-6:-2])  # from the end-of-CD record
    assert pkpass.startswith(before[:central_directory])  # static entries reused verbatim
    assert "strip.png" not in assets.digests
