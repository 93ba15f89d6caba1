"""Builders for Apple pass type folders in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.apple.passtype import DeclaredData
from tests.unit.apple.helpers import make_png

DEMO_DIR = Path(__file__).resolve().parents[3] / "config/tenants/demo/passtypes/loyalty"

DECLARED = DeclaredData(
    identifiers=("crm",),
    metadata=("store", "tier"),
    additional_data=("points",),
    external=("firstName",),
)


def field(key: str, value: str = '"x"', **extra: Any) -> str:
    """One field dictionary as template text; `value` is template text (quoted or not)."""
    extras = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in extra.items())
    return f'{{"key": {json.dumps(key)}, "label": "L", "value": {value}{extras}}}'


def template(*, style: str = "storeCard", fields: str | None = None, extra: str = "") -> str:
    """A valid pass.json template; `extra` adds top-level members (text ending with a comma)."""
    fields = (
        fields if fields is not None else field("points", "{{ pass.additionalData.points | json }}")
    )
    return (
        "{\n"
        '  "description": "Test card",\n'
        '  "organizationName": "Test Org",\n'
        f"{extra}"
        f'  "{style}": {{"primaryFields": [{fields}]}}\n'
        "}\n"
    )


def default_images() -> dict[str, bytes]:
    return {"icon.png": make_png(29, 29), "icon@2x.png": make_png(58, 58)}


def write_pass_type(
    root: Path,
    *,
    pass_json: str | None = None,
    images: dict[str, bytes] | None = None,
    files: dict[str, bytes] | None = None,
    name: str = "card",
    with_pass_json: bool = True,
) -> Path:
    """Write `<root>/<name>/apple/...` and return the pass type folder.

    `files` holds extra members by path relative to apple/ (e.g. "fr.lproj/pass.strings")."""
    directory = root / name
    apple = directory / "apple"
    apple.mkdir(parents=True)
    if with_pass_json:
        (apple / "pass.json").write_text(pass_json if pass_json is not None else template())
    members = {**(default_images() if images is None else images), **(files or {})}
    for member, data in members.items():
        path = apple / member
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory
