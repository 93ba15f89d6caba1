"""Producing a new Apple version of a pass: render, compare, sign, tag."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.apple import issuing
from shared.passes.jobs import JobContext
from shared.repositories import counters
from shared.tenants import PassType, Tenant

UPDATE_TAG_SEQUENCE = "apple.updateTag"


def new_apple_version(
    context: JobContext,
    tenant: Tenant,
    pass_type: PassType,
    document: Mapping[str, Any],
    *,
    now: datetime,
    external: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The `apple` sub-document for `document`'s data, or None when nothing changed (or the
    pass type has no Apple template). `external` is the pass's external data (rendered,
    never stored). Raises issuing.AppleRenderFailed."""
    rendition = issuing.render(
        tenant,
        pass_type,
        document,
        web_service_url=context.settings.apple_web_service_url(tenant.id),
        external=external or {},
        now=now,
    )
    previous = document.get("apple")
    if rendition is None or (previous and previous["contentHash"] == rendition.content_hash):
        return None
    signed = issuing.sign(tenant, pass_type, rendition)
    (tag,) = counters.reserve(context.db, UPDATE_TAG_SEQUENCE)
    return issuing.stored_form(
        rendition,
        signed,
        update_tag=tag,
        last_modified=issuing.next_last_modified(
            previous["lastModified"] if previous else None, now
        ),
    )
