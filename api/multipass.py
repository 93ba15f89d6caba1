"""Several passes of one tenant in one download (`GET /passes/{id1},{id2}…`, and the
download page for several): Apple's `.pkpasses` bundle, or one Save to Google Wallet link
naming every object. All or nothing: an unknown, foreign or wallet-less pass is named in a
4xx and nothing is served."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response

from api import services
from api.errors import ApiError
from api.google.save import save_redirect, send_object_now
from shared.apple.delivery import pkpass_for
from shared.google.issuers import GoogleCredentialError
from shared.google.save_link import SigningAccount
from shared.infra.clock import utcnow
from shared.infra.ids import PASS_ID_PATTERN
from shared.multipass import (
    PKPASSES_MEDIA_TYPE,
    BadPassList,
    multi_save_jwt,
    pkpasses_bundle,
    split_pass_ids,
)
from shared.passes.google_versions import google_pending
from shared.repositories import passes as passes_repo
from shared.tenancy.tenants import Tenant

log = logging.getLogger(__name__)

Document = dict[str, Any]


def _refuse(status: int, message: str, reason: str) -> ApiError:
    return ApiError(status, message, errors=[{"field": "passId", "reason": reason}])


def tenant_passes(tenant: Tenant, raw: str) -> list[Document]:
    """The tenant's passes `id1,id2,…` names, in that order; 422 for a list passwire does
    not serve, 404 naming every id that is unknown (or another tenant's: the same answer)."""
    try:
        ids = split_pass_ids(raw)
    except BadPassList as exc:
        raise _refuse(422, "The pass list is invalid.", exc.reason) from None
    valid = [item for item in ids if PASS_ID_PATTERN.fullmatch(item)]
    found = {
        doc["_id"]: doc for doc in passes_repo.find_passes(services.database(), tenant.id, valid)
    }
    missing = [item for item in ids if item not in found]
    if missing:
        raise _refuse(404, "Unknown passes.", "no such pass: " + ", ".join(missing))
    return [found[item] for item in ids]


def _without(documents: list[Document], wallet: str) -> list[str]:
    return [str(doc["_id"]) for doc in documents if not doc.get(wallet)]


def bundle_response(tenant: Tenant, documents: list[Document]) -> Response:
    """The passes' `.pkpass` files in one `.pkpasses` bundle."""
    lacking = _without(documents, "apple")
    named: list[tuple[str, bytes]] = []
    for document in [] if lacking else documents:
        served = pkpass_for(tenant, document)  # None: its pass type lost its Apple template
        if served is None:
            lacking.append(str(document["_id"]))
        else:
            named.append((str(document["_id"]), served.body))
    if lacking:
        raise _refuse(
            404,
            "Some passes have no Apple Wallet version.",
            "no Apple version: " + ", ".join(lacking),
        )
    try:
        body = pkpasses_bundle(named)
    except BadPassList as exc:
        raise _refuse(413, "The passes are too large for one bundle.", exc.reason) from None
    response = Response(body, mimetype=PKPASSES_MEDIA_TYPE)
    response.headers["Content-Disposition"] = 'attachment; filename="passes.pkpasses"'
    response.headers["Cache-Control"] = "private, no-store"  # personal data
    return response


def save_response(tenant: Tenant, documents: list[Document]) -> Response:
    """A 302 to one Save to Google Wallet link naming every pass's object; objects Google
    lacks (never sent, or changed since) are sent first, as api/google/save.py does for one
    pass: the link names them by id."""
    lacking = _without(documents, "google")
    if lacking:
        raise _refuse(
            404,
            "Some passes have no Google Wallet version.",
            "no Google version: " + ", ".join(lacking),
        )
    issuers = {doc["google"]["issuerId"] for doc in documents}
    if len(issuers) != 1:
        raise _refuse(422, "These passes belong to several Google issuers.", "one issuer per link")
    try:
        issuer = tenant.google_issuers.get(issuers.pop())
    except GoogleCredentialError as exc:
        log.error("tenant %s: Google service account unusable: %s", tenant.id, exc)
        raise ApiError(503, "Google Wallet is not available for this tenant right now.") from exc
    for document in documents:
        if google_pending(document):
            send_object_now(tenant, document)
    account = issuer.service_account
    token = multi_save_jwt(
        SigningAccount(account.client_email, account.private_key_id, account.private_key_pem),
        objects=[
            (doc["google"]["kind"], doc["google"]["objectId"], doc["google"]["classId"])
            for doc in documents
        ],
        origins=issuer.ref.origins,
        now=utcnow(),
    )
    return save_redirect(token)
