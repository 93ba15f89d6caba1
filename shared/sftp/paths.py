"""The tenant's view of its SFTP drop: a virtual tree of exactly three folders,

    /incoming/    where files are dropped
    /processed/   imported files, each with its `<name>.results.csv`
    /rejected/    refused files, each with its `<name>.errors.txt`

A client path is resolved here, as text, before any file is touched: relative paths start at
`/`, `..` never climbs above `/` (as at a real root), and anything but `/`, a folder or a
plain file name right inside a folder names nothing. Names starting with `.` are the server's
own (uploads in progress) and are never shown or reachable; so no client path can name a
symlink, a subfolder or anything outside the tenant's own folder.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Final

INCOMING: Final = "incoming"
PROCESSED: Final = "processed"
REJECTED: Final = "rejected"
FOLDERS: Final = (INCOMING, PROCESSED, REJECTED)
PART_SUFFIX: Final = ".part"  # an upload in progress: never imported until renamed
MAX_NAME: Final = 200


class PathRefused(Exception):
    """The path names nothing a tenant may reach; the message says why (for the client)."""


@dataclass(frozen=True)
class DropPath:
    folder: str | None  # None: the root
    name: str | None  # None: the folder itself

    @property
    def virtual(self) -> str:
        return "/" + "/".join(part for part in (self.folder, self.name) if part)

    @property
    def is_file(self) -> bool:
        return self.name is not None


def resolve(raw: bytes) -> DropPath:
    """The folder and file a client path names, or PathRefused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PathRefused("path is not UTF-8") from None
    if "\x00" in text or "\\" in text:
        raise PathRefused("path holds a forbidden character")
    parts = [p for p in posixpath.normpath(posixpath.join("/", text)).split("/") if p]
    if not parts:
        return DropPath(None, None)
    if parts[0] not in FOLDERS:
        raise PathRefused(f"no such folder: only /{', /'.join(FOLDERS)} exist")
    if len(parts) == 1:
        return DropPath(parts[0], None)
    if len(parts) > 2:
        raise PathRefused("no subfolders: files go right inside a folder")
    check_name(parts[1])
    return DropPath(parts[0], parts[1])


def check_name(name: str) -> None:
    if name.startswith("."):
        raise PathRefused("names starting with '.' are not allowed")
    if len(name) > MAX_NAME:
        raise PathRefused(f"names are at most {MAX_NAME} characters")
    if any(ord(ch) < 32 for ch in name):
        raise PathRefused("names may not hold control characters")


def is_partial(name: str) -> bool:
    return name.endswith(PART_SUFFIX)
