"""The barcode messages of a rendered pass.json, stored with the pass so a till that scans
one can name the pass (`POST /api/{tenantId}/redemptions {"barcode": …}`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MAX_MESSAGES = 10  # Wallet shows the first barcode it supports; a pass lists a few at most


def barcode_messages(pass_json: bytes) -> list[str]:
    """Each distinct `barcodes[].message` (and the deprecated `barcode.message`), in order."""
    document: dict[str, Any] = json.loads(pass_json)
    entries = list(document.get("barcodes") or [])
    if isinstance(document.get("barcode"), dict):
        entries.append(document["barcode"])
    return distinct_messages(
        entry["message"]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("message"), str)
    )


def distinct_messages(messages: Iterable[str]) -> list[str]:
    """The first MAX_MESSAGES distinct messages, in order (also used by the render shortcut,
    which knows a pass's messages without parsing it: shared/apple/passtype.py)."""
    return list(dict.fromkeys(messages))[:MAX_MESSAGES]
