"""The shape of a stored pass.

Privacy first: a pass stores the brand's identifiers (to find the customer in its systems),
metadata (for segmentation) and additionalData (display-only extras); data fetched from the
brand's systems is never stored here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.infra.ids import new_authentication_token


def new_pass_document(
    *,
    pass_id: str,
    tenant_id: str,
    pass_type: str,
    identifiers: dict[str, Any],
    metadata: dict[str, Any],
    additional_data: dict[str, Any],
    correlation_id: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "_id": pass_id,
        "tenant": tenant_id,
        "passType": pass_type,
        # Sent by devices as `Authorization: ApplePass <token>`; never changes.
        "authenticationToken": new_authentication_token(),
        "identifiers": identifiers,
        "metadata": metadata,
        "additionalData": additional_data,
        "providers": {"apple": None, "google": None},
        "status": "active",
        "version": 1,
        "createdAt": now,
        "updatedAt": now,
        "createdBy": correlation_id,
    }


def public_view(document: dict[str, Any]) -> dict[str, Any]:
    """A pass as the API shows it: never the authentication token."""
    return {
        "id": document["_id"],
        "passType": document["passType"],
        "identifiers": document.get("identifiers", {}),
        "metadata": document.get("metadata", {}),
        "additionalData": document.get("additionalData", {}),
        "providers": document.get("providers", {}),
        **({"consent": document["consent"]} if document.get("consent") else {}),
        "status": document.get("status") or "active",
        **_lifecycle_view(document),
        "creationDate": document["createdAt"],
        "lastUpdateDate": document["updatedAt"],
    }


def _lifecycle_view(document: dict[str, Any]) -> dict[str, Any]:
    """expirationDate and balance, when the pass has them (never the applied references)."""
    shown: dict[str, Any] = {}
    if document.get("expirationDate") is not None:
        shown["expirationDate"] = document["expirationDate"]
    balance = document.get("balance")
    if balance:
        shown["balance"] = {
            key: balance[key] for key in ("amount", "unit", "currency") if key in balance
        }
    return shown
