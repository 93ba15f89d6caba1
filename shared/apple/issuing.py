"""Render and sign the Apple side of a pass, and describe it for storage.

A pass stores only its own signed parts (pass.json, manifest.json, signature, and when it
carries messages its own `<lang>.lproj/pass.strings`); images stay with the pass type.
`contentHash` lets an update skip signing and pushing when the rendered pass did not change.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.apple import messages as apple_messages
from shared.apple.barcodes import barcode_messages
from shared.apple.certificates import SigningIdentity, SigningMaterialError
from shared.apple.package import PassTypeAssets, SignedPass, sign_pass
from shared.apple.pass_json import serialise
from shared.apple.passtype import (
    ApplePassType,
    PassRenderError,
    build_render_context,
    render_pass,
)
from shared.lifecycle.apple_keys import status_keys
from shared.tenancy.tenants import PassType, Tenant


class AppleRenderFailed(Exception):
    """The pass cannot be rendered or signed for Apple; the message is safe to show."""


@dataclass(frozen=True)
class AppleRendition:
    pass_type_identifier: str
    pass_json: bytes
    content_hash: str
    # Stored with the pass: a scanned barcode names it (shared/apple/barcodes.py).
    barcode_messages: tuple[str, ...] = ()
    # The pass's own <lang>.lproj/pass.strings (only passes carrying messages have them).
    strings: Mapping[str, bytes] = field(default_factory=dict)
    # Its images chosen per pass, slot -> choice (shared/apple/image_choices.py).
    images: Mapping[str, str] = field(default_factory=dict)
    # (passTypeIdentifier, teamIdentifier) written into pass_json, from the certificate;
    # signing compares them with its certificate (None: it reads them from pass_json).
    written_identifiers: tuple[str, str] | None = None
    # The pass type version rendered (None: the folder on disk) and the hash of the images
    # and strings its manifest will list: a new design re-signs a pass even when its
    # pass.json is unchanged, and serving pairs the signature with those very files.
    pass_type_version: str | None = None
    assets_hash: str = ""
    # The identity whose identifiers render wrote: `sign` signs with it instead of asking the
    # identity store again, so a pass is signed by the certificate it was rendered for even if
    # the files rotate in between. None: `sign` looks it up.
    identity: SigningIdentity | None = field(default=None, repr=False, compare=False)


@functools.lru_cache(maxsize=256)  # per PassTypeAssets object, which is immutable
def assets_hash(assets: PassTypeAssets) -> str:
    digest = hashlib.sha256()
    for name, sha1 in sorted(assets.digests.items()):
        digest.update(f"{name}\0{sha1}\n".encode())
    return digest.hexdigest()


def content_hash(
    pass_json: bytes, strings: Mapping[str, bytes] | None = None, images_fingerprint: str = ""
) -> str:
    """What the pass shows: pass.json, its own strings and its chosen images (each part
    only when present, so passes without them keep the hash they always had)."""
    if not strings and not images_fingerprint:  # most passes
        return hashlib.sha256(pass_json).hexdigest()
    digest = hashlib.sha256(pass_json)
    for name in sorted(strings or {}):  # no strings: the hash of pass.json alone, as before
        digest.update(b"\0" + name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256((strings or {})[name]).digest())
    if images_fingerprint:
        digest.update(b"\1images\0" + images_fingerprint.encode("ascii"))
    return digest.hexdigest()


def render(
    tenant: Tenant,
    pass_type: PassType,
    document: Mapping[str, Any],
    *,
    web_service_url: str,
    external: Mapping[str, Any],
    now: datetime,
) -> AppleRendition | None:
    """The pass.json for `document`, or None when the pass type has no Apple template."""
    if pass_type.apple is None or pass_type.apple_pass_type_identifier is None:
        return None
    apple = pass_type.apple
    context = build_render_context(document, external=external, now=now)
    try:
        identity = tenant.apple_identities.get(pass_type.apple_pass_type_identifier)
        images = apple.choose_images(context)
        rendered = render_pass(
            apple,
            context,
            serial_number=document["_id"],
            authentication_token=document["authenticationToken"],
            web_service_url=web_service_url,
            pass_type_identifier=identity.pass_type_identifier,
            team_identifier=identity.team_identifier,
            status_keys=status_keys(document),
        )
    except PassRenderError as exc:
        raise AppleRenderFailed(f"Apple pass does not render: {exc}") from exc
    except SigningMaterialError as exc:
        raise AppleRenderFailed(f"Apple certificate unusable: {exc.reason}") from exc
    pass_json, strings = with_messages(apple, rendered.pass_json, document)
    barcodes = rendered.barcode_messages
    if barcodes is None or pass_json is not rendered.pass_json:  # not known, or messages added
        barcodes = tuple(barcode_messages(pass_json))
    fingerprint = apple.image_choices.fingerprint(images) if apple.image_choices else ""
    return AppleRendition(
        pass_type.apple_pass_type_identifier,
        pass_json,
        content_hash(pass_json, strings, fingerprint),
        barcodes,
        strings,
        images,
        (identity.pass_type_identifier, identity.team_identifier),
        pass_type_version=pass_type.version_id,
        assets_hash=assets_hash(apple.assets_for(bool(strings), images)),
        identity=identity,
    )


def with_messages(
    apple: ApplePassType, pass_json: bytes, document: Mapping[str, Any]
) -> tuple[bytes, dict[str, bytes]]:
    """The rendered pass.json with the pass's messages on it, and the pass's own
    pass.strings resolving them. A pass without messages keeps the fast path: its bytes as
    they are (nothing parsed) and no strings of its own."""
    messages = apple_messages.from_records(document.get("messages") or ())
    if not messages:
        return pass_json, {}
    doc = json.loads(pass_json)
    apple_messages.add_message_fields(
        doc, messages, style=apple.style, template_places=apple.places_message
    )
    return serialise(doc), apple_messages.message_strings(apple.type_strings, messages)


def sign(tenant: Tenant, pass_type: PassType, rendition: AppleRendition) -> SignedPass:
    assert pass_type.apple is not None
    identity = rendition.identity
    if identity is None or identity.pass_type_identifier != rendition.pass_type_identifier:
        identity = tenant.apple_identities.get(rendition.pass_type_identifier)
    assets = pass_type.apple.assets_for(bool(rendition.strings), rendition.images)
    return sign_pass(
        rendition.pass_json,
        assets,
        identity,
        extra_files=rendition.strings,
        written_identifiers=rendition.written_identifiers,
    )


def next_last_modified(previous: datetime | None, now: datetime) -> datetime:
    """Whole seconds, strictly after the previous version.

    HTTP dates (Last-Modified / If-Modified-Since) have one-second precision: two versions
    in the same second would look alike to a device, which would then keep the older one.
    """
    candidate = now.replace(microsecond=0)
    if previous is not None and candidate <= previous:
        candidate = previous.replace(microsecond=0) + timedelta(seconds=1)
    return candidate


def stored_form(
    rendition: AppleRendition,
    signed: SignedPass,
    *,
    update_tag: int | None,  # None: assigned just before the write (apple_versions)
    last_modified: datetime,
) -> dict[str, Any]:
    """The pass document's `apple` sub-document."""
    stored: dict[str, Any] = {
        "passTypeIdentifier": rendition.pass_type_identifier,
        "contentHash": rendition.content_hash,
        "passJson": signed.pass_json,
        "manifest": signed.manifest,
        "signature": signed.signature,
        "updateTag": update_tag,
        "lastModified": last_modified,
        "barcodeMessages": list(rendition.barcode_messages),
        "passTypeVersion": rendition.pass_type_version,
        "assetsHash": rendition.assets_hash,
    }
    if rendition.images:
        stored["images"] = dict(rendition.images)  # serving ships these (delivery.py)
    if signed.extra_files:
        # A list, not a mapping: the names hold dots, which MongoDB keys should not.
        stored["strings"] = [
            {"name": name, "data": data} for name, data in sorted(signed.extra_files.items())
        ]
    return stored


def signed_parts(stored: Mapping[str, Any]) -> SignedPass:
    own = {str(item["name"]): bytes(item["data"]) for item in stored.get("strings") or ()}
    return SignedPass(
        bytes(stored["passJson"]),
        bytes(stored["manifest"]),
        bytes(stored["signature"]),
        own,
    )
