"""Producing a new Google version of a pass: render the object, compare, keep what Google has."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.apple.passtype import build_render_context
from shared.google import passtype as google_passtype
from shared.tenancy.tenants import PassType


class GoogleRenderFailed(Exception):
    """The pass's Google object does not render; the message is safe to show."""


def new_google_version(
    pass_type: PassType,
    document: Mapping[str, Any],
    *,
    now: datetime,
    external: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The `google` sub-document for `document`'s data, or None when the rendered object did
    not change (or the pass type has no Google template). Raises GoogleRenderFailed."""
    google = pass_type.google
    if google is None:
        return None
    context = build_render_context(document, external=external or {}, now=now)
    object_id = google_passtype.object_id_for(google.issuer_id, document["_id"])
    try:
        rendered = google_passtype.render_google_object(
            google,
            context,
            object_id=object_id,
            status=document.get("status", "active"),
            expiration=document.get("expirationDate"),
        )
    except google_passtype.GoogleRenderError as exc:
        raise GoogleRenderFailed(f"Google object does not render: {exc}") from exc
    content_hash = google_passtype.content_hash(rendered)
    previous = document.get("google") or {}
    if previous.get("contentHash") == content_hash:
        return None
    return {
        "issuerId": google.issuer_id,
        "kind": google.kind,
        "classId": google.class_id,
        "objectId": object_id,
        "object": rendered,
        "contentHash": content_hash,
        # What Google holds: carried over, so a pass whose object changed still owes a call.
        "syncedHash": previous.get("syncedHash"),
        "renderedAt": now,
    }


def google_pending(document: Mapping[str, Any]) -> bool:
    """Google does not yet hold the pass's current object."""
    google = document.get("google")
    return google is not None and google["contentHash"] != google.get("syncedHash")
