"""Render and sign the Apple side of a pass, and describe it for storage.

A pass stores only its own signed parts (pass.json, manifest.json, signature); images stay
with the pass type. `contentHash` lets an update skip signing and pushing when the rendered
pass.json did not change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.apple.barcodes import barcode_messages
from shared.apple.certificates import SigningMaterialError
from shared.apple.package import SignedPass, sign_pass
from shared.apple.passtype import PassRenderError, build_render_context, render_pass_json
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


def content_hash(pass_json: bytes) -> str:
    return hashlib.sha256(pass_json).hexdigest()


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
    try:
        identity = tenant.apple_identities.get(pass_type.apple_pass_type_identifier)
        pass_json = render_pass_json(
            pass_type.apple,
            build_render_context(document, external=external, now=now),
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
    return AppleRendition(
        pass_type.apple_pass_type_identifier,
        pass_json,
        content_hash(pass_json),
        tuple(barcode_messages(pass_json)),
    )


def sign(tenant: Tenant, pass_type: PassType, rendition: AppleRendition) -> SignedPass:
    assert pass_type.apple is not None
    identity = tenant.apple_identities.get(rendition.pass_type_identifier)
    return sign_pass(rendition.pass_json, pass_type.apple.assets, identity)


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
    return {
        "passTypeIdentifier": rendition.pass_type_identifier,
        "contentHash": rendition.content_hash,
        "passJson": signed.pass_json,
        "manifest": signed.manifest,
        "signature": signed.signature,
        "updateTag": update_tag,
        "lastModified": last_modified,
        "barcodeMessages": list(rendition.barcode_messages),
    }


def signed_parts(stored: Mapping[str, Any]) -> SignedPass:
    return SignedPass(
        bytes(stored["passJson"]), bytes(stored["manifest"]), bytes(stored["signature"])
    )
