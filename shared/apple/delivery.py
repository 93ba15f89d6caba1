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


def pkpass_for(tenant: Tenant, document: Mapping[str, Any]) -> ServedPass | None:
    """The pass's current .pkpass, or None when it has no Apple version."""
    apple = document.get("apple")
    pass_type = tenant.pass_types.get(document["passType"])
    if not apple or pass_type is None or pass_type.apple is None:
        return None
    signed = signed_parts(apple)
    # A pass carrying messages ships its own pass.strings instead of its type's; a pass
    # with images chosen per pass ships those its manifest was signed with.
    assets = pass_type.apple.assets_for(bool(signed.extra_files), apple.get("images"))
    body = assemble_pkpass(assets, signed)
    return ServedPass(body, apple["lastModified"], f'"{apple["contentHash"]}"')
