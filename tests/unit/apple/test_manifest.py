from __future__ import annotations

import json

import pytest

from shared.apple.manifest import build_manifest, check_member_name, manifest_from_digests
from tests.unit.apple.helpers import sha1


def test_manifest_maps_every_file_to_its_sha1() -> None:
    files = {"pass.json": b"{}", "icon.png": b"\x89PNG-bytes", "en.lproj/pass.strings": b"x"}
    manifest = json.loads(build_manifest(files))
    assert manifest == {name: sha1(data) for name, data in files.items()}
    # Known vector: SHA-1("{}")
    assert manifest["pass.json"] == "bf21a9e8fbc5a3846fb05b4fa0859e0917b2202f"


def test_manifest_bytes_do_not_depend_on_insertion_order() -> None:
    a = build_manifest({"pass.json": b"1", "icon.png": b"2", "logo.png": b"3"})
    b = build_manifest({"logo.png": b"3", "pass.json": b"1", "icon.png": b"2"})
    assert a == b
    assert list(json.loads(a)) == ["icon.png", "logo.png", "pass.json"]


def test_manifest_from_digests_matches_build_manifest() -> None:
    files = {"pass.json": b"a", "icon.png": b"b"}
    digests = {k: sha1(v) for k, v in files.items()}
    assert manifest_from_digests(digests) == build_manifest(files)


@pytest.mark.parametrize(
    "name",
    ["manifest.json", "signature", "", "/icon.png", "../icon.png", "a/b/c.png", "img/icon.png",
     ".lproj/x.strings", "en.lproj\\pass.strings", "en.lproj/"],
)  # fmt: skip
def test_invalid_member_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        check_member_name(name)


@pytest.mark.parametrize("name", ["pass.json", "icon@2x.png", "zh-Hans.lproj/pass.strings"])
def test_valid_member_names(name: str) -> None:
    check_member_name(name)
