"""Apple Wallet device registrations (`registrations` collection).

One document per (deviceLibraryIdentifier, passTypeIdentifier, serialNumber), unique, with the
device's pushToken, the pass's tenant, createdAt and updatedAt. The serial number is the pass id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.repositories import deleted_passes, passes

Document = dict[str, Any]
COLLECTION = "registrations"
DEVICE = "deviceLibraryIdentifier"
PASS_TYPE = "passTypeIdentifier"
SERIAL = "serialNumber"


def _key(device: str, pass_type_identifier: str, serial: str) -> Document:
    return {DEVICE: device, PASS_TYPE: pass_type_identifier, SERIAL: serial}


def upsert_registration(
    db: Database[Any],
    *,
    tenant_id: str,
    device: str,
    pass_type_identifier: str,
    serial: str,
    push_token: str,
    now: datetime,
) -> bool:
    """Register the device for the pass, or refresh its pushToken; True when newly created.

    One atomic upsert, so concurrent identical calls leave one document and report "created"
    once. MongoDB may still answer a racing upsert with a duplicate-key error on the unique
    index: the other call created it, so this one updates the existing document.
    """
    key = _key(device, pass_type_identifier, serial)
    update = {
        "$set": {"pushToken": push_token, "updatedAt": now},
        "$setOnInsert": {"tenant": tenant_id, "createdAt": now},
    }
    try:
        result = db[COLLECTION].update_one(key, update, upsert=True)
    except DuplicateKeyError:
        db[COLLECTION].update_one(key, {"$set": update["$set"]})
        return False
    return result.upserted_id is not None


def delete_registration(
    db: Database[Any], *, device: str, pass_type_identifier: str, serial: str
) -> bool:
    result = db[COLLECTION].delete_one(_key(device, pass_type_identifier, serial))
    return result.deleted_count > 0


def registration_exists(
    db: Database[Any], *, device: str, pass_type_identifier: str, serial: str
) -> bool:
    key = _key(device, pass_type_identifier, serial)
    return db[COLLECTION].find_one(key, {"_id": 1}) is not None


def count_for_device(db: Database[Any], device: str) -> int:
    return int(db[COLLECTION].count_documents({DEVICE: device}))


def updated_passes_for_device(
    db: Database[Any],
    *,
    tenant_id: str,
    device: str,
    pass_type_identifier: str,
    since: int | None,
) -> list[tuple[str, int]]:
    """(serial, updateTag) of the tenant's passes this device registered for the pass type,
    whose Apple update tag is greater than `since` (all of them when None); deleted passes
    whose voided version devices still fetch included."""
    registered = db[COLLECTION].find(
        {DEVICE: device, PASS_TYPE: pass_type_identifier, "tenant": tenant_id},
        {SERIAL: 1, "_id": 0},
    )
    serials = [document[SERIAL] for document in registered]
    if not serials:
        return []
    query: Document = {
        "_id": {"$in": serials},
        "tenant": tenant_id,
        "apple.passTypeIdentifier": pass_type_identifier,
    }
    if since is not None:
        query["apple.updateTag"] = {"$gt": since}
    found = [
        document
        for collection in (passes.COLLECTION, deleted_passes.COLLECTION)
        for document in db[collection].find(query, {"apple.updateTag": 1})
    ]
    return [(document["_id"], int(document["apple"].get("updateTag") or 0)) for document in found]


# Documents in a reply when a whole batch's devices are read: more than any batch has, so one
# reply and no getMore round trip (the server still caps a reply by its size).
_ONE_REPLY = 100_000


def push_tokens_for_passes(
    db: Database[Any], tenant_id: str, pass_ids: Iterable[str]
) -> dict[str, list[tuple[str, str]]]:
    """Every registered device of each pass: {pass_id: [(deviceLibraryIdentifier, pushToken)]}.

    Passes without registrations are absent from the answer.
    """
    ids = list(dict.fromkeys(pass_ids))
    tokens: dict[str, list[tuple[str, str]]] = {}
    if not ids:
        return tokens
    found = db[COLLECTION].find(
        {"tenant": tenant_id, SERIAL: {"$in": ids}},
        {SERIAL: 1, DEVICE: 1, "pushToken": 1, "_id": 0},
        batch_size=_ONE_REPLY,
    )
    for document in found:
        tokens.setdefault(document[SERIAL], []).append((document[DEVICE], document["pushToken"]))
    return tokens


def remove_by_push_token(db: Database[Any], push_token: str, pass_type_identifier: str) -> int:
    """Forget every registration using a push token APNs reported gone (410); returns the count."""
    result = db[COLLECTION].delete_many({"pushToken": push_token, PASS_TYPE: pass_type_identifier})
    return int(result.deleted_count)


def remove_for_pass(db: Database[Any], tenant_id: str, pass_id: str) -> int:
    """Forget every device registered for a pass (e.g. the pass was deleted); returns the count."""
    result = db[COLLECTION].delete_many({"tenant": tenant_id, SERIAL: pass_id})
    return int(result.deleted_count)


def count_for_pass(db: Database[Any], tenant_id: str, serial: str) -> int:
    return int(db[COLLECTION].count_documents({"tenant": tenant_id, SERIAL: serial}))
