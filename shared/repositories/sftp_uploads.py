"""Files taken from the SFTP drop (`sftp_uploads` collection), one per import they became.

`_id` is `<tenant>:<sha-256 of the file's name and content>`: claiming it is what makes the
same file dropped twice import once. `status` goes `received` (claimed; the import is being
stored and queued) → `filed` (stored, queued, the file in processed/) → `done` (its results
written beside it). The SFTP server resumes every upload that is not `done` (shared/sftp/).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
COLLECTION = "sftp_uploads"
RECEIVED = "received"
FILED = "filed"
DONE = "done"


def upload_id(tenant_id: str, digest: str) -> str:
    return f"{tenant_id}:{digest}"


def claim(db: Database[Any], document: Document) -> tuple[Document, bool]:
    """(the upload, True) when this call stored it; (the earlier one, False) when one with
    the same id was there first."""
    try:
        db[COLLECTION].insert_one(document)
    except DuplicateKeyError:
        found: Document | None = db[COLLECTION].find_one({"_id": document["_id"]})
        if found is not None:
            return found, False
        raise
    return document, True


def find(db: Database[Any], upload: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": upload})
    return found


def set_status(db: Database[Any], upload: str, status: str, now: datetime) -> None:
    db[COLLECTION].update_one({"_id": upload}, {"$set": {"status": status, f"{status}At": now}})


def count_since(db: Database[Any], tenant_id: str, since: datetime) -> int:
    return int(db[COLLECTION].count_documents({"tenant": tenant_id, "receivedAt": {"$gte": since}}))


def unfinished(db: Database[Any], status: str, tenants: Iterable[str]) -> Iterator[Document]:
    """The uploads of `tenants` in `status`, oldest first."""
    query = {"status": status, "tenant": {"$in": list(tenants)}}
    with db[COLLECTION].find(query, sort=[("receivedAt", 1)]) as cursor:
        yield from cursor
