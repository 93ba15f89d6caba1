"""Producing a new Apple version of a pass: render, compare, sign, tag."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database

from shared.apple import issuing
from shared.passes.jobs import JobContext
from shared.repositories import counters
from shared.tenants import PassType, Tenant

UPDATE_TAG_SEQUENCE = "apple.updateTag"


class UpdateTags:
    """Update tags reserved `block` at a time, so a campaign batch takes one `$inc` rather than
    one per pass. Tags left unused are skipped for good: they must grow, not be contiguous."""

    def __init__(self, db: Database[Any], block: int = 1) -> None:
        self._db, self._block = db, max(block, 1)
        self._free: Iterator[int] = iter(())

    def take(self) -> int:
        tag = next(self._free, None)
        if tag is None:
            self._free = iter(counters.reserve(self._db, UPDATE_TAG_SEQUENCE, self._block))
            tag = next(self._free)
        return tag


def new_apple_version(
    context: JobContext,
    tenant: Tenant,
    pass_type: PassType,
    document: Mapping[str, Any],
    *,
    now: datetime,
    external: Mapping[str, Any] | None = None,
    tags: UpdateTags | None = None,
) -> dict[str, Any] | None:
    """The `apple` sub-document for `document`'s data, or None when nothing changed (or the
    pass type has no Apple template). `external` is the pass's external data (rendered,
    never stored); `tags` the job's reserved update tags. Raises issuing.AppleRenderFailed."""
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
    tag = (tags or UpdateTags(context.db)).take()
    return issuing.stored_form(
        rendition,
        signed,
        update_tag=tag,
        last_modified=issuing.next_last_modified(
            previous["lastModified"] if previous else None, now
        ),
    )
