"""Serving a stored Apple pass: the .pkpass from its signed parts and its type's images.

Never signs and never calls the brand's systems: everything needed was stored by the job
that last changed the pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.apple.issuing import signed_parts
from shared.apple.package import assemble_pkpass
from shared.tenancy.tenants import Tenant

PKPASS_MEDIA_TYPE = "application/vnd.apple.pkpass"


@dataclass(frozen=True)
class ServedPass:
    body: bytes
    last_modified: datetime
    etag: str


def last_modified(document: Mapping[str, Any]) -> datetime | None:
    apple = document.get("apple")
    return apple["lastModified"] if apple else None


def entity_tag(apple: Mapping[str, Any]) -> str:
    """The version's ETag value: its content, and the images it was signed with (a new
    design over an unchanged pass.json is a new .pkpass)."""
    assets = apple.get("assetsHash")
    return f"{apple['contentHash']}-{assets[:16]}" if assets else str(apple["contentHash"])


def pkpass_for(tenant: Tenant, document: Mapping[str, Any]) -> ServedPass | None:
    """The pass's current .pkpass, or None when it has no Apple version."""
    apple = document.get("apple")
    if not apple:
        return None
    # The images of the version it was signed with: its manifest lists their hashes.
    pass_type = tenant.rendered_with(document["passType"], apple.get("passTypeVersion"))
    if pass_type is None or pass_type.apple is None:
        return None
    signed = signed_parts(apple)
    # A pass carrying messages ships its own pass.strings instead of its type's; a pass
    # with images chosen per pass ships those its manifest was signed with.
    assets = pass_type.apple.assets_for(bool(signed.extra_files), apple.get("images"))
    body = assemble_pkpass(assets, signed)
    return ServedPass(body, apple["lastModified"], f'"{entity_tag(apple)}"')
