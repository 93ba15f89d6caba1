"""The reads of a campaign preview's batch (shared/campaigns/preview.py): the campaign batch's
own reads, each answered in one reply (a cursor as large as the batch: no getMore round trip)
and carrying only what the preview uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.database import Database

from shared.repositories import passes, registrations

Document = dict[str, Any]
# Documents per reply: more than any batch reads (the server still caps a reply by size).
_ONE_REPLY = 100_000


def load_passes(
    db: Database[Any], tenant_id: str, pass_ids: Sequence[str], *, without: Sequence[str] = ()
) -> dict[str, Document]:
    """The batch's passes by id, as the campaign batch reads them, less the `without` fields."""
    found = db[passes.COLLECTION].find(
        {"_id": {"$in": list(pass_ids)}, "tenant": tenant_id},
        dict.fromkeys(without, 0) or None,
        batch_size=_ONE_REPLY,
    )
    return {str(document["_id"]): document for document in found}


def push_tokens(db: Database[Any], tenant_id: str, pass_ids: Sequence[str]) -> dict[str, set[str]]:
    """The push token of every device registered for each pass, by pass id (passes without a
    device are absent): what the APNs fan-out would push to."""
    tokens: dict[str, set[str]] = {}
    if not pass_ids:
        return tokens
    # Whole documents (a few small fields): on the dev wire server a projection costs more
    # than the bytes it saves.
    found = db[registrations.COLLECTION].find(
        {"tenant": tenant_id, registrations.SERIAL: {"$in": list(pass_ids)}},
        batch_size=_ONE_REPLY,
    )
    for document in found:
        tokens.setdefault(str(document[registrations.SERIAL]), set()).add(document["pushToken"])
    return tokens
