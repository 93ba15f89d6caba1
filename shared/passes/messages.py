"""The messages a pass keeps: recorded when a campaign's batch processes the pass.

A pass with an Apple version keeps its last KEPT messages on its document (`messages`, newest
first: id, content, localizedContent, at, alert); its rendering shows them (the newest as a
lock-screen alert, shared/apple/messages.py). The message's id is the campaign's correlation
id, so a batch delivered twice records it once, and the same text sent again (a new campaign)
is a new message: a new value, a new alert.

Whether a new message alerts, arrives silently or waits (quiet hours) is decided per pass by
shared/notifications/policy.py (`decide`); the caller passes that decision in as `alert`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.notifications import DEFAULT_KIND

KEPT = 5  # messages readable on the back of the pass
# Where a campaign's patch carries its message to the batch (never a pass field: `$`).
PATCH_KEY = "$message"
FIELD = "messages"


def campaign_patch(operation: Mapping[str, Any]) -> dict[str, Any]:
    """The patch a campaign batch applies: the operation's data patch, plus its message (id:
    the correlation id) when it has one."""
    patch = dict(operation["intent"]["patch"])
    message = operation.get("message")
    if message is not None:
        patch[PATCH_KEY] = {
            "id": operation["_id"],
            "content": message["content"],
            "localizedContent": dict(message.get("localizedContent") or {}),
            "kind": message.get("kind") or DEFAULT_KIND,
        }
    return patch


def recorded(document: Mapping[str, Any], message: str) -> bool:
    """Whether the pass already keeps message `message` (a redelivered job records it once)."""
    return any(m.get("id") == message for m in document.get(FIELD) or [])


def message_id(patch: Mapping[str, Any]) -> str | None:
    message = patch.get(PATCH_KEY)
    return None if message is None else str(message["id"])


def with_message(
    patched: dict[str, Any],
    patch: Mapping[str, Any],
    *,
    has_apple: bool,
    now: datetime,
    alert: bool | None = True,
) -> dict[str, Any]:
    """`patched` (a pass being rendered by a batch) with the patch's message recorded: newest
    first, at most KEPT, once per message id, alerting or not as decided (`alert`; None: held
    back for quiet hours, not recorded now). Only passes with an Apple template keep them
    (Google keeps its own messages on the object)."""
    message = patch.get(PATCH_KEY)
    kept = list(patched.get(FIELD) or [])
    if message is None or alert is None or not has_apple:
        return patched
    if any(m.get("id") == message["id"] for m in kept):
        return patched
    record = {**message, "at": now, "alert": alert}
    return {**patched, FIELD: [record, *kept][:KEPT]}


def changes(document: Mapping[str, Any], patched: Mapping[str, Any]) -> dict[str, Any]:
    """What to store of the messages: the list when it changed, else nothing."""
    if patched.get(FIELD) == document.get(FIELD):
        return {}
    return {FIELD: patched.get(FIELD) or []}


def alerted_by(document: Mapping[str, Any], message: str | None) -> bool:
    """Whether the stored `document`'s rendering carries message `message` as its newest,
    alerting one: its devices' push brings a lock-screen alert (`apple.notified`)."""
    if message is None:
        return False
    kept = document.get(FIELD) or []
    return bool(kept) and kept[0].get("id") == message and bool(kept[0].get("alert", True))
