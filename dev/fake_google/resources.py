"""Wallet classes and objects as the walletobjects v1 API stores them.

Stored documents are never mutated in place (every change stores a new dict), so a reply
can be serialised after the state's lock is released.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dev.fake_google.errors import GoogleApiError

KINDS = ("loyalty", "offer", "giftCard", "eventTicket", "generic", "flight", "transit")
CLASS, OBJECT = "Class", "Object"
_COLLECTION = re.compile(rf"^({'|'.join(KINDS)})({CLASS}|{OBJECT})$")
# "<issuerId>.<suffix>": the issuer id Google assigned (a number), then the caller's part.
_RESOURCE_ID = re.compile(r"^([0-9]+)\.([A-Za-z0-9._-]+)$")
NOTIFYING = "TEXT_AND_NOTIFY"
# The discovery document also lists the legacy lowerCamel spellings.
_MESSAGE_TYPES = {"TEXT", "text", NOTIFYING, "EXPIRATION_NOTIFICATION", "expirationNotification"}


@dataclass(frozen=True)
class Collection:
    kind: str  # "loyalty", "giftCard", ...
    category: str  # CLASS or OBJECT

    @property
    def name(self) -> str:
        return f"{self.kind}{self.category}"

    @classmethod
    def parse(cls, name: str) -> Collection | None:
        match = _COLLECTION.match(name)
        return None if match is None else cls(match.group(1), match.group(2))


def issuer_of(resource_id: object) -> str | None:
    """The issuer id of a well-formed resource id, else None."""
    if not isinstance(resource_id, str):
        return None
    match = _RESOURCE_ID.match(resource_id)
    return None if match is None else match.group(1)


def invalid(message: str) -> GoogleApiError:
    return GoogleApiError(400, message, "invalid")


def _checked_id(resource_id: object) -> str:
    if resource_id is None or resource_id == "":
        raise invalid("Resource ID must be specified.")
    if issuer_of(resource_id) is None:
        raise invalid(
            f"Invalid resource ID: {resource_id!r}. It must be '<issuerId>.<identifier>' with "
            "an identifier of letters, digits, '.', '_' or '-'."
        )
    return str(resource_id)


def _document(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. The request body must be a JSON object.")
    return body


@dataclass(frozen=True)
class MessageRecord:
    id: str | None
    message_type: str
    time: float  # wall seconds on the fake's clock

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "messageType": self.message_type, "time": self.time}


@dataclass
class StoredResource:
    kind: str
    document: dict[str, Any]
    patch_count: int = 0
    put_count: int = 0
    notifying_messages: int = 0
    message_log: list[MessageRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource": self.document,
            "patch_count": self.patch_count,
            "put_count": self.put_count,
            "notifying_messages": self.notifying_messages,
            "messages": [record.to_json() for record in self.message_log],
        }


def parse_message(body: Any) -> dict[str, Any]:
    """The ``message`` of an addMessage request body, checked."""
    message = _document(body).get("message")
    if not isinstance(message, dict):
        raise invalid("The request must contain a 'message'.")
    message_type = message.get("messageType", "TEXT")
    if message_type not in _MESSAGE_TYPES:
        raise invalid(f"Invalid value at 'message.message_type': {message_type!r}")
    if not message.get("header") and not message.get("body"):
        raise invalid("A message needs a header or a body.")
    return message


class WalletStore:
    """Classes and objects by id (ids are unique within each category, whatever the kind)."""

    def __init__(self) -> None:
        self.classes: dict[str, StoredResource] = {}
        self.objects: dict[str, StoredResource] = {}

    def _table(self, collection: Collection) -> dict[str, StoredResource]:
        return self.classes if collection.category == CLASS else self.objects

    def find(self, collection: Collection, resource_id: str) -> StoredResource:
        stored = self._table(collection).get(resource_id)
        if stored is None or stored.kind != collection.kind:
            raise GoogleApiError(
                404, f"Resource not found: {collection.name} {resource_id}", "resourceNotFound"
            )
        return stored

    def _check_object_class(self, collection: Collection, document: dict[str, Any]) -> None:
        if collection.category != OBJECT:
            return
        class_id = document.get("classId")
        if not class_id:
            raise invalid("classId must be specified.")
        _checked_id(class_id)
        if issuer_of(class_id) != issuer_of(document["id"]):
            raise invalid(f"The object {document['id']} and its class {class_id} belong to "
                          "different issuers.")  # fmt: skip
        stored = self.classes.get(class_id)
        if stored is None or stored.kind != collection.kind:
            raise invalid(f"The {collection.kind}Class {class_id} referenced by classId does "
                          "not exist.")  # fmt: skip

    def _checked_body(
        self, collection: Collection, body: Any, path_id: str | None
    ) -> dict[str, Any]:
        document = _document(body)
        if path_id is not None:
            if document.get("id") not in (None, path_id):
                raise invalid(f"The id in the body ({document['id']}) is not the id in the "
                              f"path ({path_id}).")  # fmt: skip
            document = {**document, "id": path_id}
        _checked_id(document.get("id"))
        self._check_object_class(collection, document)
        return document

    def insert(self, collection: Collection, body: Any) -> dict[str, Any]:
        document = self._checked_body(collection, body, None)
        table = self._table(collection)
        if document["id"] in table:
            raise GoogleApiError(
                409, f"Resource already exists: {collection.name} {document['id']}", "duplicate"
            )
        table[document["id"]] = StoredResource(collection.kind, document)
        return document

    def get(self, collection: Collection, resource_id: str) -> dict[str, Any]:
        return self.find(collection, resource_id).document

    def patch(self, collection: Collection, resource_id: str, body: Any) -> dict[str, Any]:
        """Google's PATCH: every top-level field provided replaces the stored one."""
        stored = self.find(collection, resource_id)
        merged = {**stored.document, **_document(body)}
        stored.document = self._checked_body(collection, merged, resource_id)
        stored.patch_count += 1
        return stored.document

    def update(self, collection: Collection, resource_id: str, body: Any) -> dict[str, Any]:
        """PUT: the body replaces the whole resource."""
        stored = self.find(collection, resource_id)
        stored.document = self._checked_body(collection, body, resource_id)
        stored.put_count += 1
        return stored.document

    def add_message(
        self, collection: Collection, resource_id: str, message: dict[str, Any], now: float
    ) -> dict[str, Any]:
        stored = self.find(collection, resource_id)
        messages = [*stored.document.get("messages", []), message]
        stored.document = {**stored.document, "messages": messages}
        message_type = str(message.get("messageType", "TEXT"))
        stored.message_log.append(MessageRecord(message.get("id"), message_type, now))
        if message_type == NOTIFYING:
            stored.notifying_messages += 1
        return stored.document

    def to_json(self) -> dict[str, Any]:
        return {
            "classes": {rid: stored.to_json() for rid, stored in self.classes.items()},
            "objects": {rid: stored.to_json() for rid, stored in self.objects.items()},
        }
