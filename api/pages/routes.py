"""The pass download page, for a brand's customers: `/api/<tenantId>/passes/<passId>/view`.

Customers have no API key: the page and its downloads are opened with a signed, expiring link
token (`?t=`, shared/links.py) bound to one pass. Integrators may open them with their API
credentials (Pass.Read) instead; the page then mints a token for its own links and QR code.
`medium` (email, sms, qr, ...) says where the link was published and `tags` (comma-separated)
name its campaign; each download records an install click with them. `<passId>` may list
several passes (`id1,id2,…`, api/multipass.py): one page and downloads for them all.
HTML, not JSON: kept out of the OpenAPI document. The page's errors are HTML pages; the
downloads keep the JSON error envelope.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from api import services
from api.apple.pkpass import pkpass_response
from api.auth import API_KEY_HEADER, authenticate_tenant, current_tenant, requires_scope
from api.errors import (
    ApiError,
    handle_database_unavailable,
    handle_http_exception,
    handle_unexpected,
)
from api.google.save import save_link_response
from api.lookup import find_tenant_pass
from api.multipass import bundle_response, save_response, tenant_passes
from api.pages.content import headline, logo_data_uri, qr_svg
from api.pages.live import allow_live, live_watch
from api.pages.several import preparing_page, several_passes_page
from shared.attribution import BadTags, parse_tags
from shared.credentials.api_keys import Principal
from shared.credentials.scopes import PASS_READ
from shared.infra.clock import utcnow
from shared.links import SECRET_ENV, LinkCheck, link_secret, sign_link, verify_link
from shared.multipass import ID_SEPARATOR, is_pass_list
from shared.repositories import DatabaseUnavailable
from shared.repositories import install_clicks as clicks_repo
from shared.tenancy.tenants import PassType

log = logging.getLogger(__name__)

LINK_TTL_S = 30 * 24 * 3600  # links the page mints for an API-key caller
MEDIUM_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")  # use with fullmatch
ORIGIN_MAX = 255
VIEW_ENDPOINT = "pages.view"
_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_T_ERROR = {"field": "t", "reason": "invalid or expired link token"}

blp = Blueprint(
    "pages", __name__, url_prefix="/api/<tenantId>/passes/<passId>", template_folder="templates"
)


def _now_s() -> int:
    return int(utcnow().timestamp())


def _secret(tenant_id: str) -> bytes:
    settings = services.settings()
    secret = link_secret(tenant_id, is_local=settings.is_local, configured=settings.link_secret)
    if secret is None:
        log.error("download pages are disabled: %s is not set", SECRET_ENV)
        raise ApiError(
            503,
            f"Download pages are disabled: {SECRET_ENV} is not set "
            "(or shorter than 32 characters).",
            errors=[{"field": SECRET_ENV, "reason": "not configured"}],
        )
    return secret


def link_signing_secret(tenant_id: str) -> bytes:
    """The key signing `tenant_id`'s links (api/links mints them too); 503 when unset."""
    return _secret(tenant_id)


def _link_refusal(check: LinkCheck | None) -> ApiError:
    if check is LinkCheck.EXPIRED:
        return ApiError(403, "This link has expired; ask for a new one.", errors=[_T_ERROR])
    if check is LinkCheck.INVALID:
        return ApiError(401, "This link is not valid.", errors=[_T_ERROR])
    return ApiError(
        401,
        f"Open this page with its link (t=...) or an {API_KEY_HEADER} header.",
        errors=[{"field": "t", "reason": "missing"}],
    )


def _has_credential() -> bool:
    return bool(request.headers.get(API_KEY_HEADER) or request.headers.get("Authorization"))


@blp.before_request
def authorize() -> None:
    """A valid link token for this pass first, else the tenant API's own credentials."""
    args = request.view_args or {}
    tenant_id, pass_id = str(args["tenantId"]), str(args["passId"])
    secret = _secret(tenant_id)
    token = request.args.get("t")
    check = None if token is None else verify_link(secret, tenant_id, pass_id, token, _now_s())
    tenant = services.tenants().get(tenant_id)
    if check is LinkCheck.VALID and tenant is not None:
        g.tenant = tenant
        # Read access to this one pass: the views look up no other.
        g.principal = Principal(tenant.id, frozenset({PASS_READ}), f"link:{pass_id}")
        g.link_token = token
        return
    if not _has_credential():
        # A valid token reaches here only for an unknown tenant.
        raise _link_refusal(LinkCheck.INVALID if check is LinkCheck.VALID else check)
    authenticate_tenant()  # API key or bearer token: 401 / 403 / 404 in the API's own terms


def _medium() -> str | None:
    medium = request.args.get("medium")
    if medium is not None and not MEDIUM_PATTERN.fullmatch(medium):
        raise ApiError(
            422,
            "The request is invalid.",
            errors=[{"field": "medium", "reason": "must be 1 to 32 of a-z, 0-9, '_' or '-'"}],
        )
    return medium


def _tags() -> tuple[str, ...]:
    try:
        return parse_tags(request.args.get("tags"))
    except BadTags as exc:
        raise ApiError(
            422, "The request is invalid.", errors=[{"field": "tags", "reason": str(exc)}]
        ) from None


def _pass_type(document: dict[str, Any]) -> PassType | None:
    return current_tenant().pass_types.get(document["passType"])


def _has_google(pass_type: PassType | None) -> bool:
    return pass_type is not None and pass_type.google is not None


def _links(tenant_id: str, pass_id: str, medium: str | None) -> dict[str, str]:
    """The page's own links, with the caller's link token or (API callers) a new one."""
    token: str = g.get("link_token") or sign_link(
        _secret(tenant_id), tenant_id, pass_id, _now_s() + LINK_TTL_S
    )
    common: dict[str, Any] = {
        "tenantId": tenant_id,
        "passId": pass_id,
        "t": token,
        "medium": medium,
        "tags": request.args.get("tags") if _tags() else None,
    }
    page = url_for(VIEW_ENDPOINT, **{**common, "medium": "qr"})
    return {
        "apple": url_for("pages.download_apple", **common),
        "google": url_for("pages.download_google", **common),
        "qr": services.settings().public_base_url + page,
    }


def _html(body: str, status: int, nonce: str) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    headers = response.headers
    headers["Content-Security-Policy"] = _CSP.format(nonce=nonce)
    headers["Cache-Control"] = "private, no-store"  # personal data and a bearer link
    headers["Referrer-Policy"] = "same-origin"  # the token never leaves this site
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@blp.get("/view")
@requires_scope(PASS_READ)
def view(tenantId: str, passId: str) -> Response:
    medium = _medium()
    if is_pass_list(passId):
        return _html(*several_passes_page(tenantId, passId, _links(tenantId, passId, medium)))
    try:
        document = find_tenant_pass(passId)
    except ApiError as exc:
        return _html(*preparing_page(tenantId, passId, refusal=exc))
    pass_type = _pass_type(document)
    apple = document.get("apple") or {}
    nonce = secrets.token_urlsafe(16)
    links = _links(tenantId, passId, medium)
    live = live_watch(tenantId, passId)
    body = render_template(
        "pass_view.html",
        nonce=nonce,
        headline=headline(apple.get("passJson"), current_tenant().name),
        logo=logo_data_uri(pass_type.apple.files) if pass_type and pass_type.apple else None,
        apple_href=links["apple"] if apple else None,
        google_href=links["google"] if _has_google(pass_type) else None,
        qr=qr_svg(links["qr"]),
        live=live,
    )
    return allow_live(_html(body, 200, nonce), nonce, live)


def _record_click(pass_id: str, wallet: str, medium: str | None, tags: tuple[str, ...]) -> None:
    referrer = request.referrer
    origin = urlsplit(referrer).hostname if referrer else None
    clicks_repo.record_click(
        services.database(),
        tenant_id=current_tenant().id,
        pass_id=pass_id,
        wallet=wallet,
        medium=medium,
        tags=tags,
        origin=origin[:ORIGIN_MAX] if origin else None,
        user_agent=request.user_agent.string or None,
        at=utcnow(),
    )


@blp.get("/download/apple")
@requires_scope(PASS_READ)
def download_apple(tenantId: str, passId: str) -> Response:
    """Record the install click, then serve the .pkpass (404 when there is none)."""
    medium, tags = _medium(), _tags()
    if is_pass_list(passId):
        response = bundle_response(current_tenant(), tenant_passes(current_tenant(), passId))
    else:
        response = pkpass_response(current_tenant(), find_tenant_pass(passId))
    if request.method == "GET":  # link checkers send HEAD: not an install
        for pass_id in passId.split(ID_SEPARATOR):
            _record_click(pass_id, "apple", medium, tags)
    return response


@blp.get("/download/google")
@requires_scope(PASS_READ)
def download_google(tenantId: str, passId: str) -> Response:
    """Record the install click, then redirect to the Save to Google Wallet link."""
    medium, tags = _medium(), _tags()
    if is_pass_list(passId):
        response = save_response(current_tenant(), tenant_passes(current_tenant(), passId))
    else:
        response = save_link_response(current_tenant(), find_tenant_pass(passId))
    if request.method == "GET":  # link checkers send HEAD: not an install
        for pass_id in passId.split(ID_SEPARATOR):
            _record_click(pass_id, "google", medium, tags)
    return response


def _json_error(exc: Exception) -> tuple[Response, int]:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    if isinstance(exc, DatabaseUnavailable):
        return handle_database_unavailable(exc)
    return handle_unexpected(exc)


@blp.errorhandler(Exception)
def page_error(exc: Exception) -> Response | tuple[Response, int]:
    """The API's envelope for downloads; the same status and message as a page for the view."""
    response, status = _json_error(exc)
    if request.endpoint != VIEW_ENDPOINT:
        return response, status
    message = (response.get_json(silent=True) or {}).get("message", "Something went wrong.")
    nonce = secrets.token_urlsafe(16)
    body = render_template("pass_error.html", nonce=nonce, status=status, message=message)
    return _html(body, status, nonce)
