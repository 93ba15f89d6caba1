"""Pass type folders as uploads: the demo loyalty folder, variations of it, and the API calls."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import requests

from dev.demo_png import encode_png
from shared.passtypes.archive import read_folder, write_zip
from tests.support.api_client import ApiClient

ZIP = "application/zip"
NEW_COLOUR = "rgb(12, 34, 56)"


def loyalty_files(tenants_dir: Path) -> dict[str, bytes]:
    """The demo loyalty folder as the session's tenants dir holds it."""
    return read_folder(tenants_dir / "demo" / "passtypes" / "loyalty")


def solid_png(width: int, height: int, rgba: tuple[int, int, int, int]) -> bytes:
    return encode_png(width, height, (bytes(rgba) * width for _ in range(height)))


def redesigned(files: dict[str, bytes]) -> dict[str, bytes]:
    """A new design: another background colour and another strip image (same sizes)."""
    template = files["apple/pass.json"].decode()
    changed = dict(files)
    changed["apple/pass.json"] = re.sub(
        r'"backgroundColor": "[^"]*"', f'"backgroundColor": "{NEW_COLOUR}"', template
    ).encode()
    changed["apple/strip.png"] = solid_png(375, 144, (12, 34, 56, 255))
    return changed


def zipped(files: dict[str, bytes], *, folder: str | None = None) -> bytes:
    if folder is None:
        return write_zip(files)
    return write_zip({f"{folder}/{path}": data for path, data in files.items()})


def raw_zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, data in members:
            archive.writestr(info, data)
    return buffer.getvalue()


def put_version(client: ApiClient, name: str, body: bytes) -> requests.Response:
    return client.session.put(
        client.url(f"/passtypes/{name}"), data=body, headers={"Content-Type": ZIP}, timeout=60
    )


def activate(
    client: ApiClient, name: str, number: int, *, rerender: bool = False
) -> requests.Response:
    return client.session.post(
        client.url(f"/passtypes/{name}/versions/{number}/activate"),
        json={"rerender": rerender},
        timeout=30,
    )


def get_folder(client: ApiClient, name: str, number: int | None = None) -> requests.Response:
    params = {} if number is None else {"version": number}
    return client.session.get(client.url(f"/passtypes/{name}"), params=params, timeout=30)


def listed(client: ApiClient) -> dict[str, dict[str, Any]]:
    response = client.session.get(client.url("/passtypes"), timeout=10)
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["passTypes"]}
