"""Stored pass type versions (shared/passtypes/): files, versions and the active version.

- `passtype_blobs`: one document per file content, `_id` its SHA-256: an image shared by ten
  versions (or ten pass types) is stored once, and never per pass.
- `passtype_versions`: an immutable numbered version, `_id` "<tenant>/<name>/<number>": its
  file paths and their content hashes.
- `passtype_active`: per pass type the version every process renders with (`_id`
  "<tenant>/<name>"); read once a second or so by each process (shared/passtypes/active.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

BLOBS = "passtype_blobs"
VERSIONS = "passtype_versions"
ACTIVE = "passtype_active"
# Two uploads racing for the same number: the loser takes the next one.
_NUMBER_ATTEMPTS = 5


def version_id(tenant_id: str, name: str, number: int) -> str:
    return f"{tenant_id}/{name}/{number}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_blobs(db: Database[Any], files: Mapping[str, bytes]) -> None:
    """Each distinct content once; a content already stored is not written again."""
    by_hash = {sha256(data): data for data in files.values()}
    if by_hash:
        db[BLOBS].bulk_write(
            [
                UpdateOne(
                    {"_id": digest},
                    {"$setOnInsert": {"data": data, "size": len(data)}},
                    upsert=True,
                )
                for digest, data in by_hash.items()
            ],
            ordered=False,
        )


def insert_version(
    db: Database[Any],
    tenant_id: str,
    name: str,
    files: Mapping[str, bytes],
    *,
    now: datetime,
    source: str,
) -> dict[str, Any]:
    """Store the files (blobs first, so a version never names a missing blob) and a new
    version after the highest; the version document."""
    store_blobs(db, files)
    listing = [
        {"path": path, "sha256": sha256(data), "size": len(data)}
        for path, data in sorted(files.items())
    ]
    for _ in range(_NUMBER_ATTEMPTS):
        latest = db[VERSIONS].find_one(
            {"tenant": tenant_id, "name": name}, sort=[("number", -1)], projection=["number"]
        )
        number = int(latest["number"]) + 1 if latest else 1
        document = {
            "_id": version_id(tenant_id, name, number),
            "tenant": tenant_id,
            "name": name,
            "number": number,
            "files": listing,
            "source": source,
            "createdAt": now,
        }
        try:
            db[VERSIONS].insert_one(document)
        except DuplicateKeyError:
            continue
        return document
    raise RuntimeError(f"could not number a new version of {tenant_id}/{name}")


def find_version(
    db: Database[Any], tenant_id: str, name: str, number: int
) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[VERSIONS].find_one(
        {"_id": version_id(tenant_id, name, number), "tenant": tenant_id}
    )
    return found


def find_version_by_id(db: Database[Any], tenant_id: str, vid: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[VERSIONS].find_one({"_id": vid, "tenant": tenant_id})
    return found


def versions_of(
    db: Database[Any], tenant_id: str, name: str, *, with_files: bool = False
) -> list[dict[str, Any]]:
    """The pass type's versions, oldest first (their file listings only if asked for)."""
    cursor = db[VERSIONS].find(
        {"tenant": tenant_id, "name": name},
        projection=None if with_files else {"files": 0},
        sort=[("number", ASCENDING)],
    )
    return list(cursor)


def stored_names(db: Database[Any], tenant_id: str) -> list[str]:
    return sorted({str(name) for name in db[VERSIONS].distinct("name", {"tenant": tenant_id})})


def files_of(db: Database[Any], version: Mapping[str, Any]) -> dict[str, bytes]:
    """The version's files, path -> bytes, from their blobs (one query)."""
    hashes = {item["sha256"] for item in version["files"]}
    blobs = {
        blob["_id"]: bytes(blob["data"]) for blob in db[BLOBS].find({"_id": {"$in": list(hashes)}})
    }
    return {item["path"]: blobs[item["sha256"]] for item in version["files"]}


def active_versions(db: Database[Any], tenant_id: str) -> dict[str, str]:
    """name -> active version id, for the tenant's pass types that have stored versions."""
    return {
        str(item["name"]): str(item["versionId"])
        for item in db[ACTIVE].find({"tenant": tenant_id}, projection=["name", "versionId"])
    }


def active_of(db: Database[Any], tenant_id: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[ACTIVE].find_one({"_id": f"{tenant_id}/{name}"})
    return found


def activate(db: Database[Any], version: Mapping[str, Any], *, now: datetime) -> None:
    tenant_id, name = version["tenant"], version["name"]
    db[ACTIVE].update_one(
        {"_id": f"{tenant_id}/{name}"},
        {
            "$set": {
                "tenant": tenant_id,
                "name": name,
                "versionId": version["_id"],
                "number": version["number"],
                "activatedAt": now,
            }
        },
        upsert=True,
    )
