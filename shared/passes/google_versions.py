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


# Who holds the pass's Google object (`googleHolder`): passwire calls Google for an object
# only while someone may have it in Google Wallet; the others wait, owed, for their next Save
# link click (api/google/save.py). SAVED: a `save` callback came and no `del` since. ASSUMED:
# written before passwire tracked holders, at Google with no callback seen (the tenant may
# not have received callbacks then): treated as saved (docs/google.md#holders). None: nobody.
HOLDER_FIELD = "googleHolder"
SAVED = "saved"
ASSUMED = "assumed"


def google_holder(document: Mapping[str, Any]) -> str | None:
    """SAVED, ASSUMED or None (see HOLDER_FIELD). A pass stored before the field existed
    (no migration yet) is judged by the same rule the migration applies."""
    if HOLDER_FIELD in document:
        holder: str | None = document[HOLDER_FIELD]
        return holder
    return legacy_holder(document)


def legacy_holder(document: Mapping[str, Any]) -> str | None:
    """The holder of a pass written before holders were tracked: SAVED when its save
    callback is recorded, ASSUMED when Google has its object and no callback (neither save
    nor del) was ever seen, else None."""
    providers = document.get("providers") or {}
    if providers.get("google"):
        return SAVED
    synced = (document.get("google") or {}).get("syncedHash") is not None
    if synced and providers.get("googleUninstalledAt") is None:
        return ASSUMED
    return None


def google_owed_to_holder(document: Mapping[str, Any]) -> bool:
    """Google lacks the current object and someone may hold it: a job must call Google."""
    return google_pending(document) and google_holder(document) is not None
