"""Two more states of the download page: several passes on one page (one signed link for
`id1,id2,…`, every button adds them all), and a pass whose create job has not finished yet
("being prepared", refreshing itself until it is ready)."""

from __future__ import annotations

import json
import secrets

from flask import render_template

from api import services
from api.auth import current_tenant
from api.errors import ApiError
from api.multipass import tenant_passes
from api.pages.content import qr_svg
from shared import operations
from shared.repositories import operations as operations_repo

REFRESH_S = 5

Page = tuple[str, int, str]  # body, status, CSP nonce


def several_passes_page(tenant_id: str, pass_ids: str, links: dict[str, str]) -> Page:
    """One page for several passes: their titles, and buttons adding all of them."""
    documents = tenant_passes(current_tenant(), pass_ids)
    names = [_title(doc) or current_tenant().name for doc in documents]
    nonce = secrets.token_urlsafe(16)
    body = render_template(
        "passes_view.html",
        nonce=nonce,
        title=current_tenant().name,
        names=names,
        apple_href=links["apple"] if all(doc.get("apple") for doc in documents) else None,
        google_href=links["google"] if all(doc.get("google") for doc in documents) else None,
        qr=qr_svg(links["qr"]),
    )
    return body, 200, nonce


def _title(document: dict[str, object]) -> str:
    apple = document.get("apple")
    pass_json = apple.get("passJson") if isinstance(apple, dict) else None
    if not pass_json:
        return ""
    loaded = json.loads(bytes(pass_json))
    title = (
        loaded.get("description") or loaded.get("organizationName")
        if isinstance(loaded, dict)
        else ""
    )
    return str(title or "")[:200]


def preparing_page(tenant_id: str, pass_id: str, *, refusal: ApiError) -> Page:
    """ "Being prepared" while the pass's create job is queued or running; `refusal` (the
    404) otherwise."""
    if refusal.code != 404 or not operations_repo.creation_pending(
        services.database(), tenant_id, pass_id, operations.ACTIVE_STATUSES
    ):
        raise refusal
    nonce = secrets.token_urlsafe(16)
    body = render_template(
        "pass_preparing.html", nonce=nonce, title=current_tenant().name, refresh_s=REFRESH_S
    )
    return body, 200, nonce
