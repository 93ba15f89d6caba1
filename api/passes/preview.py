"""A pass as each wallet shows it, read from its stored renderings (nothing is rendered here).

The pass.json's `authenticationToken` is replaced: it is the credential Wallet devices present
to register for the pass and fetch it, and a preview is for people reading the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

REDACTED_TOKEN: Final = "[redacted]"


def _apple_preview(pass_json: bytes) -> Any:
    rendered = json.loads(bytes(pass_json))
    if isinstance(rendered, dict) and "authenticationToken" in rendered:
        rendered["authenticationToken"] = REDACTED_TOKEN
    return rendered


def preview(document: Mapping[str, Any]) -> dict[str, Any]:
    apple = document.get("apple")
    google = document.get("google")
    return {
        "apple": _apple_preview(apple["passJson"]) if apple else None,
        "google": (
            {
                "classId": google["classId"],
                "objectId": google["objectId"],
                "object": google["object"],
            }
            if google
            else None
        ),
    }
