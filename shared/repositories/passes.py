"""Pass documents (`passes` collection): `_id` is the pass id (Apple serial number)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.passes.google_versions import ASSUMED, HOLDER_FIELD, SAVED
from shared.passes.search import LISTED_FIELDS, PassFilter, to_query
from shared.stats import counting

Document = dict[str, Any]
COLLECTION = "passes"


def insert_pass(db: Database[Any], document: Document) -> bool:
    """Insert a new pass (and count it); False when a pass with that id already exists."""
    try:
        db[COLLECTION].insert_one(document)
    except DuplicateKeyError:
        return False
    counting.pass_created(db, document)
    return True


def find_pass(db: Database[Any], tenant_id: str, pass_id: str) -> Document | None:
    found: Document | None = db[COLLECTION].find_one({"_id": pass_id, "tenant": tenant_id})
    return found


def search_passes(
    db: Database[Any],
    tenant_id: str,
    filters: PassFilter,
    sort: Sequence[tuple[str, int]],
    *,
    skip: int,
    limit: int,
) -> tuple[list[Document], int]:
    """One page of the tenant's passes matching `filters` (only the fields public_view
    reads), and how many match in all. See shared/repositories/indexes.py for what is
    indexed; other filters are still exact, they only read more documents."""
    query = to_query(tenant_id, filters)
    collection = db[COLLECTION]
    cursor = collection.find(
        query,
        LISTED_FIELDS,
        sort=list(sort) or None,
        skip=skip,
        limit=limit,
        allow_disk_use=True,  # deep pages of an unindexed sort may outgrow the memory limit
    )
    page = list(cursor)
    if len(page) < limit and (page or skip == 0):
        return page, skip + len(page)  # the last page: no need to count
    return page, collection.count_documents(query)


def update_pass(
    db: Database[Any],
    tenant_id: str,
    pass_id: str,
    *,
    expected_version: int,
    changes: Document,
) -> bool:
    """Apply `changes` and bump the version if nobody changed the pass since it was read."""
    result = db[COLLECTION].update_one(
        {"_id": pass_id, "tenant": tenant_id, "version": expected_version},
        {"$set": {**changes, "version": expected_version + 1}},
    )
    return result.modified_count == 1


def clear_apple_push_pending(db: Database[Any], tenant_id: str, pass_id: str, tag: int) -> None:
    """The push for Apple version `tag` was sent; a newer version keeps its own flag."""
    db[COLLECTION].update_one(
        {"_id": pass_id, "tenant": tenant_id, "apple.updateTag": tag},
        {"$unset": {"applePushPending": ""}},
    )


def set_install_state(
    db: Database[Any], tenant_id: str, pass_id: str, wallet: str, *, installed: bool, now: Any
) -> bool:
    """Record that the pass is now in (or no longer in) a wallet, and count it; True when that
    changed. The pass as it was before comes back with the change, atomically: what it says
    of the other wallet decides whether the pass entered (left) its first (last) wallet."""
    field = f"providers.{wallet}"
    if installed:
        query: Document = {"_id": pass_id, "tenant": tenant_id, field: None}
        change: Document = {"$set": {field: {"installedAt": now}}}
    else:
        query = {"_id": pass_id, "tenant": tenant_id, field: {"$ne": None}}
        change = {"$set": {field: None, f"providers.{wallet}UninstalledAt": now}}
    before: Document | None = db[COLLECTION].find_one_and_update(
        query, change, projection={"passType": 1, "providers": 1}
    )
    if before is None:
        return False
    counting.install_changed(db, tenant_id, before, wallet, installed=installed, now=now)
    return True


def find_pass_ids(db: Database[Any], tenant_id: str, lookup: Document, *, limit: int) -> list[str]:
    """Ids of the tenant's passes matching every field of `lookup` (at most `limit`)."""
    query = {**lookup, "tenant": tenant_id}  # the tenant last: nothing in lookup replaces it
    cursor = db[COLLECTION].find(query, {"_id": 1}).limit(limit)
    return [str(document["_id"]) for document in cursor]


def mark_google_synced(
    db: Database[Any], tenant_id: str, synced: Iterable[tuple[str, str]]
) -> None:
    """Google acknowledged these (pass id, content hash) objects, in one bulk write; a newer
    rendering stays owed."""
    requests = [
        UpdateOne(
            {"_id": pass_id, "tenant": tenant_id, "google.contentHash": content_hash},
            {"$set": {"google.syncedHash": content_hash}, "$unset": {"googlePending": ""}},
        )
        for pass_id, content_hash in synced
    ]
    if requests:
        db[COLLECTION].bulk_write(requests, ordered=False)


def set_google_holder(
    db: Database[Any], tenant_id: str, pass_id: str, *, saved: bool
) -> Document | None:
    """Record who holds the pass's Google object after a `save` (SAVED) or `del` (nobody)
    callback, whatever was assumed before; the pass as it now is (its `google` rendering and
    owed flag), or None when it is gone."""
    found: Document | None = db[COLLECTION].find_one_and_update(
        {"_id": pass_id, "tenant": tenant_id},
        {"$set": {HOLDER_FIELD: SAVED if saved else None}},
        projection={"google": 1, "googlePending": 1, HOLDER_FIELD: 1, "updatedAt": 1},
        return_document=ReturnDocument.AFTER,
    )
    return found


def _tenants_query(tenant_ids: Iterable[str] | None) -> Document:
    return {} if tenant_ids is None else {"tenant": {"$in": list(tenant_ids)}}


def adopt_google_holders(
    db: Database[Any], tenant_ids: Iterable[str] | None = None
) -> dict[str, int]:
    """Give passes written before holders were tracked (no `googleHolder` field) the holder
    google_versions.legacy_holder describes: SAVED with a recorded save callback, ASSUMED
    when Google has the object and no callback was ever seen, else nobody. Idempotent: only
    passes without the field are touched, and every pass written since has it."""
    scope = {HOLDER_FIELD: {"$exists": False}, **_tenants_query(tenant_ids)}
    collection = db[COLLECTION]
    saved = collection.update_many(
        {**scope, "providers.google": {"$type": "object"}}, {"$set": {HOLDER_FIELD: SAVED}}
    ).modified_count
    assumed = collection.update_many(
        {
            **scope,
            "google.syncedHash": {"$type": "string"},
            "providers.googleUninstalledAt": None,
        },
        {"$set": {HOLDER_FIELD: ASSUMED}},
    ).modified_count
    nobody = collection.update_many(scope, {"$set": {HOLDER_FIELD: None}}).modified_count
    return {SAVED: saved, ASSUMED: assumed, "none": nobody}


def trust_google_callbacks(db: Database[Any], tenant_id: str) -> int:
    """For a tenant that has always received Google's callbacks: an ASSUMED holder is
    nobody (no save callback ever came). How many passes that changed."""
    return (
        db[COLLECTION]
        .update_many({"tenant": tenant_id, HOLDER_FIELD: ASSUMED}, {"$set": {HOLDER_FIELD: None}})
        .modified_count
    )


def find_passes(db: Database[Any], tenant_id: str, pass_ids: list[str]) -> list[Document]:
    """The tenant's passes among `pass_ids` (a few: multi-pass downloads), in no order."""
    return list(db[COLLECTION].find({"_id": {"$in": pass_ids}, "tenant": tenant_id}))
