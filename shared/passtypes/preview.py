"""A pass type version rendered for sample data (or one pass's data), stored nowhere.

What comes back is what a pass would get: Apple's pass.json and a signed .pkpass with the
version's images, Google's class and object. The sample pass carries a fixed serial number
and authentication token: it is for looking at, not for a wallet's updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.apple import issuing
from shared.apple.package import assemble_pkpass
from shared.google import passtype as google_passtype
from shared.passes.google_versions import GoogleRenderFailed, new_google_version
from shared.tenancy.tenants import PassType, Tenant

SAMPLE_PASS_ID = "PREVIEW-SAMPLE"
SAMPLE_TOKEN = "preview-only-token-0000"
GROUPS = ("identifiers", "metadata", "additionalData")


class PreviewFailed(ValueError):
    """The data does not render with this version; the message says why."""


@dataclass(frozen=True)
class Preview:
    pass_json: bytes | None
    pkpass: bytes | None
    google_class: dict[str, Any] | None
    google_object: dict[str, Any] | None


def sample_document(
    pass_type: PassType, data: Mapping[str, Mapping[str, Any]], stored: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A pass document: the stored pass's (when previewing one), else the declared sample
    values, each group overridden by `data`."""
    declared = pass_type.declared
    if stored is not None:
        document = dict(stored)
        document.pop("apple", None)  # rendered afresh, never compared with what is stored
        document.pop("google", None)
    else:
        document = {
            "_id": SAMPLE_PASS_ID,
            "passType": pass_type.id,
            "authenticationToken": SAMPLE_TOKEN,
            "status": "active",
            **{
                group: {name: declared.sample(group, name) for name in declared.names(group)}
                for group in GROUPS
            },
        }
    for group in GROUPS:
        if group in data:
            document[group] = {**(document.get(group) or {}), **data[group]}
    return document


def sample_external(pass_type: PassType, given: Mapping[str, Any]) -> dict[str, Any]:
    declared = pass_type.declared
    return {name: declared.sample("external", name) for name in declared.external} | dict(given)


def render_preview(
    tenant: Tenant,
    pass_type: PassType,
    document: Mapping[str, Any],
    *,
    external: Mapping[str, Any],
    now: datetime,
    web_service_url: str,
    callback_url: str,
) -> Preview:
    """Render and sign, in memory. Raises PreviewFailed."""
    pass_json = pkpass = None
    try:
        rendition = issuing.render(
            tenant,
            pass_type,
            document,
            web_service_url=web_service_url,
            external=external,
            now=now,
        )
        if rendition is not None and pass_type.apple is not None:
            signed = issuing.sign(tenant, pass_type, rendition)
            pass_json = rendition.pass_json
            assets = pass_type.apple.assets_for(bool(rendition.strings), rendition.images)
            pkpass = assemble_pkpass(assets, signed)
        google = new_google_version(pass_type, document, now=now, external=external)
    except (issuing.AppleRenderFailed, GoogleRenderFailed) as exc:
        raise PreviewFailed(str(exc)) from None
    google_class = (
        google_passtype.render_google_class(pass_type.google, callback_url=callback_url)
        if pass_type.google is not None
        else None
    )
    return Preview(pass_json, pkpass, google_class, google["object"] if google else None)
