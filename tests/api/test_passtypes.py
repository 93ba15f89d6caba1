"""The pass type API: folders on disk are version 1, uploads are checked as at start-up (422
naming file and field, nothing stored), zips that would escape their folder or exceed the
limits are refused, previews sign a sample without storing it, tenants see only their own."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG_DIR, Settings
from shared.infra.clock import utcnow
from shared.passtypes import versions
from shared.passtypes.archive import MAX_FILE_BYTES, MAX_UPLOAD_BYTES, read_folder, read_zip
from shared.tenancy.tenants import load_tenant
from tests.support.api_client import ApiClient
from tests.support.apple import ApplePki, check_manifest, openssl_verify, unpack
from tests.support.passtypes import (
    activate,
    get_folder,
    listed,
    loyalty_files,
    put_version,
    raw_zip,
    redesigned,
    solid_png,
    zipped,
)

STORED = ("passtype_versions", "passtype_blobs", "passtype_active")


def _counts(db: Any) -> tuple[int, ...]:
    return tuple(db[name].count_documents({}) for name in STORED)


@pytest.fixture
def fresh(demo: ApiClient, settings: Settings) -> str:
    """A pass type made through the API from the demo loyalty folder: version 1, active."""
    name = f"api-{secrets.token_hex(3)}"
    response = put_version(demo, name, zipped(loyalty_files(settings.tenants_dir)))
    assert response.status_code == 201, response.text
    return name


def test_a_folder_on_disk_is_version_one(demo: ApiClient, settings: Settings) -> None:
    loyalty = listed(demo)["loyalty"]
    assert loyalty == {"name": "loyalty", "activeVersion": 1, "latestVersion": 1, "source": "files"}
    folder = get_folder(demo, "loyalty")
    assert folder.status_code == 200
    assert folder.headers["X-Passwire-Version"] == "1"
    assert read_zip(folder.content) == loyalty_files(settings.tenants_dir)
    assert get_folder(demo, "loyalty", 2).status_code == 404
    assert get_folder(demo, "no-such-type").status_code == 404


def _without(files: dict[str, bytes], path: str) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name != path}


def _template(files: dict[str, bytes], old: str, new: str) -> dict[str, bytes]:
    text = files["apple/pass.json"].decode()
    assert old in text
    return {**files, "apple/pass.json": text.replace(old, new, 1).encode()}


INVALID = {
    "missing icon": (
        lambda f: _without(f, "apple/icon.png"),
        "apple/icon.png",
        "is required",
    ),
    "wrong image size": (
        lambda f: {**f, "apple/logo.png": solid_png(400, 400, (1, 2, 3, 255))},
        "apple/logo.png",
        "400x400",
    ),
    "unknown pass.json key": (
        lambda f: _template(f, '"logoText"', '"logoTexts"'),
        "apple/pass.json",
        "logoTexts",
    ),
    "template reading unknown data": (
        lambda f: _template(f, "pass.metadata.tier", "pass.metadata.secret"),
        "apple/pass.json:",
        "references pass.metadata.secret, which the pass type does not declare",
    ),
    "a new Google class for existing objects": (
        lambda f: {**f, "passtype.toml": f["passtype.toml"] + b'class_suffix = "renamed"\n'},
        "passtype.toml",
        "google: the class must stay",
    ),
    "passtype.toml field": (
        lambda f: {**f, "passtype.toml": f["passtype.toml"].replace(b'"loyalty"', b'"loyal"')},
        "passtype.toml",
        "kind: Must be one of",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_version_is_422_naming_file_and_field(
    demo: ApiClient, settings: Settings, db: Any, fresh: str, case: str
) -> None:
    change, file, reason = INVALID[case]
    before = _counts(db)
    response = put_version(demo, fresh, zipped(change(loyalty_files(settings.tenants_dir))))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"].startswith(file) and reason in e["reason"] for e in errors), errors
    # Nothing stored; the active version is the one it was.
    assert _counts(db) == before
    assert listed(demo)[fresh]["activeVersion"] == 1
    assert listed(demo)[fresh]["latestVersion"] == 1


def test_the_first_upload_of_a_folder_keeps_the_folder_as_version_one(
    settings: Settings, db: Any
) -> None:
    """Through the domain, on a tenant of its own: the session's demo card stays files-only."""
    tenant = load_tenant(_studio(settings.tenants_dir.parent))
    files = read_folder(tenant.pass_types["loyalty"].directory)
    version = versions.put_version(db, tenant, tenant, "loyalty", redesigned(files), now=utcnow())
    assert version["number"] == 2
    assert versions.files_of(db, tenant, "loyalty", 1) == (1, files)
    assert versions.files_of(db, tenant, "loyalty", None)[0] == 1  # still the active one
    summaries = {s.name: s for s in versions.summaries(db, tenant, tenant)}
    assert (summaries["loyalty"].active_version, summaries["loyalty"].source) == (1, "stored")
    assert summaries["loyalty"].latest_version == 2


def _studio(scratch: Path) -> Path:
    target = scratch / f"studio-{secrets.token_hex(3)}" / f"studio{secrets.token_hex(2)}"
    shutil.copytree(CONFIG_DIR / "tenants" / "demo", target)
    return target


def _symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("apple/thumbnail.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../escape.txt", "leaves the pass type folder"),
        ("apple/../../escape.txt", "leaves the pass type folder"),
        ("/etc/passwd", "absolute"),
        ("apple\\..\\x.png", "absolute or Windows"),
        (None, "symbolic link"),
    ],
)
def test_a_zip_escaping_its_folder_is_refused_and_nothing_stored(
    demo: ApiClient, settings: Settings, db: Any, member: str | None, reason: str
) -> None:
    files = loyalty_files(settings.tenants_dir)
    bad: zipfile.ZipInfo | str = _symlink() if member is None else member
    body = raw_zip([*files.items(), (bad, b"/etc/passwd")])
    before = _counts(db)
    name = f"escape-{secrets.token_hex(3)}"
    response = put_version(demo, name, body)
    assert response.status_code == 422, response.text
    assert any(reason in e["reason"] for e in response.json()["errors"]), response.json()
    assert _counts(db) == before
    assert get_folder(demo, name).status_code == 404


def test_uploads_over_the_limits_are_413(demo: ApiClient, settings: Settings, db: Any) -> None:
    before = _counts(db)
    too_big = put_version(demo, "loyalty", b"PK" + b"\0" * (MAX_UPLOAD_BYTES + 70_000))
    assert too_big.status_code == 413
    # A small zip that would unpack past the per-file limit (a zip bomb).
    files = {**loyalty_files(settings.tenants_dir), "apple/en.lproj/pass.strings": b" " * 10}
    bomb = {**files, "google/object.json": b" " * (MAX_FILE_BYTES + 1)}
    response = put_version(demo, "loyalty", zipped(bomb))
    assert response.status_code == 413, response.text
    assert response.json()["status"] == 413
    assert _counts(db) == before


def test_a_multipart_upload_and_the_version_listing(demo: ApiClient, fresh: str) -> None:
    folder = get_folder(demo, fresh).content
    response = demo.session.put(
        demo.url(f"/passtypes/{fresh}"),
        files={"file": ("design.zip", folder, "application/zip")},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert (response.json()["version"], response.json()["active"]) == (2, False)
    listing = demo.session.get(demo.url(f"/passtypes/{fresh}/versions"), timeout=10).json()
    [one, two] = listing["versions"]
    assert (one["active"], two["active"]) == (True, False)
    # The same files: the same content hashes (each stored once).
    assert [f["sha256"] for f in one["files"]] == [f["sha256"] for f in two["files"]]
    assert activate(demo, fresh, 2).json() == {"name": fresh, "activeVersion": 2}
    assert listed(demo)[fresh]["activeVersion"] == 2
    assert activate(demo, fresh, 3).status_code == 404


def test_preview_renders_and_signs_without_storing(
    demo: ApiClient, db: Any, fresh: str, apple_pki: ApplePki, tmp_path: Path
) -> None:
    before = (_counts(db), db.passes.count_documents({}), db.operations.count_documents({}))
    response = demo.session.post(
        demo.url(f"/passtypes/{fresh}/preview"),
        json={"data": {"additionalData": {"points": 77}, "metadata": {"tier": "Gold"}}},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["version"] == 1
    assert shown["applePassJson"]["storeCard"]["headerFields"][0]["value"] == 77
    files = unpack(base64.b64decode(shown["pkpass"]))
    check_manifest(files)
    verified = openssl_verify(files["signature"], files["manifest.json"], apple_pki.root, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(files["pass.json"]) == shown["applePassJson"]
    assert shown["googleClass"]["id"].endswith(fresh)
    assert shown["googleObject"]["classId"] == shown["googleClass"]["id"]
    after = (_counts(db), db.passes.count_documents({}), db.operations.count_documents({}))
    assert after == before
    # Data the template cannot render is a 422, not a 500.
    unknown = demo.session.post(
        demo.url(f"/passtypes/{fresh}/preview"), json={"version": 9}, timeout=30
    )
    assert unknown.status_code == 404


def test_tenants_see_only_their_own_pass_types(
    demo: ApiClient, rival: ApiClient, fresh: str
) -> None:
    assert fresh in listed(demo)
    assert fresh not in listed(rival)
    assert get_folder(rival, fresh).status_code == 404
    assert activate(rival, fresh, 1).status_code == 404
    foreign = rival.session.get(demo.url(f"/passtypes/{fresh}"), timeout=10)
    assert foreign.status_code == 403


EXAMPLES = sorted(p.name for p in (CONFIG_DIR / "tenants" / "demo" / "passtypes").iterdir())


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_uploads_as_a_version_and_previews(
    demo: ApiClient, settings: Settings, apple_pki: ApplePki, tmp_path: Path, example: str
) -> None:
    """The shipped examples (every style, per-pass images) go through the API as they load
    from disk, and their preview is a .pkpass that verifies."""
    files = read_folder(settings.tenants_dir / "demo" / "passtypes" / example)
    name = f"{example}-{secrets.token_hex(3)}"
    stored = put_version(demo, name, zipped(files))
    assert stored.status_code == 201, stored.text
    assert read_zip(get_folder(demo, name).content) == files
    shown = demo.session.post(demo.url(f"/passtypes/{name}/preview"), json={}, timeout=30)
    assert shown.status_code == 200, shown.text
    pkpass = unpack(base64.b64decode(shown.json()["pkpass"]))
    check_manifest(pkpass)
    verified = openssl_verify(
        pkpass["signature"], pkpass["manifest.json"], apple_pki.root, tmp_path
    )
    assert verified.returncode == 0, verified.stderr
    assert shown.json()["googleObject"] is not None
