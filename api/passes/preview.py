"""A pass as each wallet shows it, read from its stored renderings (nothing is rendered here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def preview(document: Mapping[str, Any]) -> dict[str, Any]:
    apple = document.get("apple")
    google = document.get("google")
    return {
        "apple": json.loads(bytes(apple["passJson"])) if apple else None,
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
