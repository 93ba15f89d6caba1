"""What the download page shows: the headline of a stored Apple pass.json and a QR code.

Only the front of the pass is shown (header, primary and secondary fields): back fields hold
member numbers and other identifiers. Values are returned as plain text; the template escapes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import segno

from shared.apple.pass_json import STYLE_KEYS

HEADLINE_GROUPS = ("headerFields", "primaryFields", "secondaryFields")
MAX_FIELDS = 12
MAX_TEXT = 200
_RGB = re.compile(r"rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)")  # safe inside CSS
LOGOS = ("logo@2x.png", "logo.png")


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    group: str  # headerFields, primaryFields or secondaryFields


@dataclass(frozen=True)
class Colors:
    background: str
    foreground: str
    label: str


@dataclass(frozen=True)
class Headline:
    title: str  # logoText, else organizationName
    organization: str
    description: str
    fields: tuple[Field, ...]
    colors: Colors | None


def _text(value: object) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return ""
    return str(value)[:MAX_TEXT]


def _fields(pass_json: Mapping[str, Any]) -> tuple[Field, ...]:
    styles = (pass_json[key] for key in STYLE_KEYS if isinstance(pass_json.get(key), dict))
    style: Mapping[str, Any] = next(styles, {})
    found = [
        Field(_text(item.get("label")), _text(item.get("value")), group)
        for group in HEADLINE_GROUPS
        for item in style.get(group) or []
        if isinstance(item, dict)
    ]
    return tuple(found[:MAX_FIELDS])


def _colors(pass_json: Mapping[str, Any]) -> Colors | None:
    values = [pass_json.get(key) for key in ("backgroundColor", "foregroundColor", "labelColor")]
    # Written into a <style> block: only exact rgb() triples, nothing else reaches the CSS.
    if not all(isinstance(value, str) and _RGB.fullmatch(value) for value in values):
        return None
    background, foreground, label = (str(value) for value in values)
    return Colors(background, foreground, label)


def headline(pass_json_bytes: bytes | None, fallback_title: str) -> Headline:
    """The headline of a stored pass.json; only `fallback_title` when there is none yet."""
    pass_json: Mapping[str, Any] = {}
    if pass_json_bytes:
        loaded = json.loads(bytes(pass_json_bytes))
        pass_json = loaded if isinstance(loaded, dict) else {}
    organization = _text(pass_json.get("organizationName")) or fallback_title
    return Headline(
        title=_text(pass_json.get("logoText")) or organization,
        organization=organization,
        description=_text(pass_json.get("description")),
        fields=_fields(pass_json),
        colors=_colors(pass_json),
    )


def logo_data_uri(files: Mapping[str, bytes]) -> str | None:
    """The pass type's logo as a data: URI (the page loads nothing from elsewhere)."""
    for name in LOGOS:
        if name in files:
            return "data:image/png;base64," + base64.b64encode(files[name]).decode("ascii")
    return None


def qr_svg(url: str) -> str:
    """An inline SVG QR code of `url` (dark on white, so phones read it in dark mode too)."""
    code = segno.make(url, error="m", micro=False)
    svg: str = code.svg_inline(
        scale=4, border=4, dark="#000", light="#fff", svgclass="qr", omitsize=True, title=None
    )
    return svg
