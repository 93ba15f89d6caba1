"""Producing a new Apple version of a pass: render, compare, sign, tag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.apple import issuing
from shared.apple.image_choices import ImageChoiceError
from shared.passes.jobs import JobContext
from shared.repositories import counters
from shared.tenancy.tenants import PassType, Tenant

if TYPE_CHECKING:
    from pymongo.database import Database

UPDATE_TAG_SEQUENCE = "apple.updateTag"


def assign_update_tags(db: Database[Any], apples: Sequence[dict[str, Any]]) -> None:
    """Give Apple versions made with `tag_at_write=True` their update tags, in one `$inc`,
    just before they are written.

    A device asks for "serials updated since tag N" and is answered the highest tag it gets
    as its next N. Were a batch to reserve its tags when it starts rendering, another job
    reserving later but writing first could hand a device a tag above the batch's, and the
    batch's passes, written next, would never be listed to that device. Reserved at write
    time, a tag handed out is (but for the write's own milliseconds) below every tag still to
    be written."""
    if apples:
        tags = counters.reserve(db, UPDATE_TAG_SEQUENCE, len(apples))
        for apple, tag in zip(apples, tags, strict=True):
            apple["updateTag"] = tag


def new_apple_version(
    context: JobContext,
    tenant: Tenant,
    pass_type: PassType,
    document: Mapping[str, Any],
    *,
    now: datetime,
    external: Mapping[str, Any] | None = None,
    tag_at_write: bool = False,
) -> dict[str, Any] | None:
    """The `apple` sub-document for `document`'s data, or None when nothing changed (or the
    pass type has no Apple template). `external` is the pass's external data (rendered,
    never stored). With `tag_at_write` its `updateTag` is left None for the caller to set
    with assign_update_tags before writing (a batch); else it is reserved now, just before
    the single write that follows. Raises issuing.AppleRenderFailed."""
    rendition = changed_rendition(context, tenant, pass_type, document, now=now, external=external)
    if rendition is None:
        return None
    previous = document.get("apple")
    signed = issuing.sign(tenant, pass_type, rendition)
    tag = None if tag_at_write else counters.reserve(context.db, UPDATE_TAG_SEQUENCE)[0]
    return issuing.stored_form(
        rendition,
        signed,
        update_tag=tag,
        last_modified=issuing.next_last_modified(
            previous["lastModified"] if previous else None, now
        ),
    )


def changed_rendition(
    context: JobContext,
    tenant: Tenant,
    pass_type: PassType,
    document: Mapping[str, Any],
    *,
    now: datetime,
    external: Mapping[str, Any] | None = None,
) -> issuing.AppleRendition | None:
    """The rendered Apple pass for `document` when its content differs from the stored one
    (what would be signed), else None. Unsigned: a campaign preview stops here."""
    rendition = issuing.render(
        tenant,
        pass_type,
        document,
        web_service_url=context.settings.apple_web_service_url(tenant.id),
        external=external or {},
        now=now,
    )
    previous = document.get("apple")
    if rendition is None or (
        previous
        and previous["contentHash"] == rendition.content_hash
        and _stored_assets_hash(tenant, document, previous) == rendition.assets_hash
    ):
        return None
    return rendition


def _stored_assets_hash(
    tenant: Tenant, document: Mapping[str, Any], previous: Mapping[str, Any]
) -> str | None:
    """The hash of the files the stored signature covers; a pass signed before versions
    were recorded was signed with the folder on disk."""
    if previous.get("assetsHash"):
        return str(previous["assetsHash"])
    on_disk = tenant.rendered_with(str(document["passType"]), None)
    if on_disk is None or on_disk.apple is None:
        return None
    try:
        assets = on_disk.apple.assets_for(bool(previous.get("strings")), previous.get("images"))
    except ImageChoiceError:  # images the folder no longer has: sign afresh
        return None
    return issuing.assets_hash(assets)
