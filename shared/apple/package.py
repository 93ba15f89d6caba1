"""Build a signed .pkpass zip.

Throughput design: everything that is the same for every pass of a pass type lives in an
immutable `PassTypeAssets` prepared once and shared by all threads: the SHA-1 of each image
and localisation file, the manifest around pass.json's digest, and those files already
written as a zip archive. Per pass we only hash pass.json, put its digest in the manifest,
sign it, and append pass.json, manifest.json and signature to a copy of that archive (zipfile
"a" mode), so images are never re-read, re-checksummed or re-compressed. The RSA signature
dominates the remaining cost.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.apple.certificates import SigningIdentity
from shared.apple.manifest import (
    MANIFEST_NAME,
    PASS_JSON_NAME,
    SIGNATURE_NAME,
    check_member_name,
    digest_slot,
    manifest_from_digests,
    sha1_hex,
)
from shared.apple.signing import sign_manifest

# Already-compressed formats: deflating them again costs CPU and saves nothing.
_STORED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")
# Fixed member timestamp so the zip depends only on its content (zip has no "unset" value).
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
REQUIRED_ASSETS = ("icon.png",)  # Wallet refuses to add a pass without an icon


class PassPackageError(ValueError):
    """The pass content cannot produce a valid .pkpass."""


def compression_for(name: str) -> int:
    return zipfile.ZIP_STORED if name.lower().endswith(_STORED_SUFFIXES) else zipfile.ZIP_DEFLATED


def _write(zf: zipfile.ZipFile, name: str, data: bytes, compress_type: int) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
    info.compress_type = compress_type
    info.external_attr = 0o644 << 16  # plain file permissions for unzip tools
    zf.writestr(info, data)


def _checked_name(name: str) -> str:
    if name == PASS_JSON_NAME:
        raise PassPackageError("pass.json is per pass; it cannot be a pass type asset")
    try:
        check_member_name(name)
    except ValueError as exc:
        raise PassPackageError(str(exc)) from exc
    return name


@dataclass(frozen=True, slots=True, eq=False)
class PassTypeAssets:
    """Static files of one pass type, hashed and zipped once. Immutable, thread-safe."""

    digests: Mapping[str, str]  # name -> SHA-1 hex, read-only view
    archive: bytes  # zip of the static files; each pass appends its own members to a copy
    # manifest.json of a pass without extra files, around pass.json's digest (digest_slot)
    manifest_slot: tuple[bytes, bytes] | None = None

    @classmethod
    def prepare(cls, files: Mapping[str, bytes]) -> PassTypeAssets:
        missing = [name for name in REQUIRED_ASSETS if name not in files]
        if missing:
            raise PassPackageError(f"pass type assets lack required file(s): {missing}")
        names = [_checked_name(name) for name in sorted(files)]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for name in names:
                _write(zf, name, files[name], compression_for(name))
        digests = {name: sha1_hex(files[name]) for name in names}
        slot = digest_slot(digests, PASS_JSON_NAME)
        return cls(MappingProxyType(digests), buffer.getvalue(), slot)


def _check_pass_json(pass_json: bytes, identity: SigningIdentity) -> None:
    # Wallet silently rejects a pass whose identifiers differ from the signing certificate,
    # so fail loudly here instead.
    try:
        doc = json.loads(pass_json)
    except ValueError as exc:
        raise PassPackageError(f"pass.json is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PassPackageError("pass.json must be a JSON object")
    for key, expected in (
        ("passTypeIdentifier", identity.pass_type_identifier),
        ("teamIdentifier", identity.team_identifier),
    ):
        if doc.get(key) != expected:
            raise PassPackageError(
                f"pass.json {key} is {doc.get(key)!r} but the certificate says {expected!r}"
            )


_NO_EXTRAS: Mapping[str, bytes] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SignedPass:
    """What a pass stores of its own: the signed parts. With the pass type's assets they make
    the .pkpass again without signing, so serving a pass never touches the private key."""

    pass_json: bytes
    manifest: bytes
    signature: bytes
    extra_files: Mapping[str, bytes] = field(default_factory=dict)


def sign_pass(
    pass_json: bytes,
    assets: PassTypeAssets,
    identity: SigningIdentity,
    *,
    extra_files: Mapping[str, bytes] | None = None,
    written_identifiers: tuple[str, str] | None = None,
) -> SignedPass:
    """Hash pass.json (and per-pass extras), build manifest.json and sign it.

    `written_identifiers`: the (passTypeIdentifier, teamIdentifier) the renderer wrote into
    pass_json (shared/apple/issuing.py records them); compared with the certificate's
    instead of parsing the whole pass.json again to read them back."""
    if written_identifiers is None:
        _check_pass_json(pass_json, identity)
    elif written_identifiers != (identity.pass_type_identifier, identity.team_identifier):
        raise PassPackageError(
            f"pass.json was rendered for {written_identifiers!r} but the certificate says "
            f"{(identity.pass_type_identifier, identity.team_identifier)!r}"
        )
    if not extra_files and assets.manifest_slot is not None:  # most passes: nothing of their own
        before, after = assets.manifest_slot
        manifest = b"".join((before, sha1_hex(pass_json).encode("ascii"), after))
        return SignedPass(pass_json, manifest, sign_manifest(manifest, identity), _NO_EXTRAS)
    extras = dict(extra_files or {})
    clash = assets.digests.keys() & extras.keys()
    if clash:
        raise PassPackageError(f"per-pass files clash with pass type assets: {sorted(clash)}")
    for name in extras:
        _checked_name(name)

    if not extras and assets.manifest_slot is not None:
        before, after = assets.manifest_slot
        manifest = b"".join((before, sha1_hex(pass_json).encode("ascii"), after))
    else:
        digests = {**assets.digests, PASS_JSON_NAME: sha1_hex(pass_json)}
        digests.update((name, sha1_hex(data)) for name, data in extras.items())
        manifest = manifest_from_digests(digests)
    signature = sign_manifest(manifest, identity)
    return SignedPass(pass_json, manifest, signature, MappingProxyType(extras))


def assemble_pkpass(assets: PassTypeAssets, signed: SignedPass) -> bytes:
    """The .pkpass zip from already-signed parts: no hashing of images, no signing."""
    buffer = io.BytesIO(assets.archive)
    with zipfile.ZipFile(buffer, "a") as zf:
        _write(zf, PASS_JSON_NAME, signed.pass_json, compression_for(PASS_JSON_NAME))
        for name in sorted(signed.extra_files):
            _write(zf, name, signed.extra_files[name], compression_for(name))
        _write(zf, MANIFEST_NAME, signed.manifest, compression_for(MANIFEST_NAME))
        _write(zf, SIGNATURE_NAME, signed.signature, zipfile.ZIP_STORED)  # DER: no gain
    return buffer.getvalue()


def build_pkpass(
    pass_json: bytes,
    assets: PassTypeAssets,
    identity: SigningIdentity,
    *,
    extra_files: Mapping[str, bytes] | None = None,
) -> bytes:
    """Return the .pkpass bytes: the shared assets, pass.json, optional per-pass
    `extra_files` (e.g. a personalised thumbnail), manifest.json and signature."""
    signed = sign_pass(pass_json, assets, identity, extra_files=extra_files)
    return assemble_pkpass(assets, signed)
