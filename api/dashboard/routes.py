"""The operator dashboard: `/dashboard/<tenantId>/`, a read-only page per tenant.

Its own login: an API key of the tenant granting Pass.Read, typed once into a form, is
exchanged for a session cookie (HttpOnly, SameSite=Strict, Secure outside local development,
scoped to the tenant's dashboard path); the key itself is never stored nor sent again. A key
of another tenant, or one without Pass.Read, opens nothing. Operations are shown only to a
key that may read them (Operation.Read). The page has no write action at all, whatever the
key may do elsewhere.

CSRF: the only forms are the login (a double-submitted token: a cookie and a field that
must match) and the logout (the session's own token); both also refuse a foreign `Origin`.
The page's CSP allows nothing but its own nonce'd style and same-origin forms: the charts
are SVG drawn on the server (charts.py), no script and nothing fetched from elsewhere. HTML,
not JSON: kept out of the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from api import services
from api.auth import principal_of_key
from api.dashboard import overview
from api.errors import ApiError
from shared.credentials.scopes import OPERATION_READ, PASS_READ, grants
from shared.infra.clock import utcnow
from shared.repositories import dashboard_sessions as sessions
from shared.stats import reading
from shared.tenancy.tenants import Tenant, TenantRegistry

SESSION_COOKIE = "pw_dashboard"
LOGIN_COOKIE = "pw_dashboard_login"
SESSION_TTL = timedelta(hours=8)
LOGIN_TTL_S = 1800
REFRESH_WHILE_RUNNING_S = 5  # the page reloads itself while an operation runs
_CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_REFUSED_LOGIN = "This key cannot open this dashboard."

blp = Blueprint(
    "dashboard", __name__, url_prefix="/dashboard/<tenantId>", template_folder="templates"
)


def _tenant(tenant_id: str) -> Tenant | None:
    registry: TenantRegistry = current_app.extensions["passwire.tenants"]
    return registry.get(tenant_id)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _html(body: str, status: int, nonce: str) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    headers = response.headers
    headers["Content-Security-Policy"] = _CSP.format(nonce=nonce)
    headers["Cache-Control"] = "private, no-store"
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _set_cookie(
    response: BaseResponse, tenant_id: str, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=f"/dashboard/{tenant_id}",
        secure=not services.settings().is_local,
        httponly=True,
        samesite="Strict",
    )


def _same_origin() -> bool:
    """A browser names the page that sent a POST; it must be this site (none: not a browser
    form, which the token check still guards)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def _login_page(tenant_id: str, status: int = 200, message: str | None = None) -> Response:
    nonce, csrf = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    body = render_template(
        "dashboard/login.html",
        nonce=nonce,
        csrf=csrf,
        action=url_for("dashboard.login", tenantId=tenant_id),
        message=message,
    )
    response = _html(body, status, nonce)
    _set_cookie(response, tenant_id, LOGIN_COOKIE, csrf, LOGIN_TTL_S)
    return response


@blp.get("/login")
def login_form(tenantId: str) -> Response:
    return _login_page(tenantId)


@blp.post("/login")
def login(tenantId: str) -> BaseResponse:
    """Exchange a read key for a session. Every refusal is the same page (an unknown tenant
    is not told apart from a wrong key)."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = request.form.get("csrf", "")
    if not expected or not hmac.compare_digest(expected, sent) or not _same_origin():
        return _login_page(tenantId, 403, "The form expired; sign in again.")
    tenant = _tenant(tenantId)
    try:
        principal = principal_of_key(request.form.get("apiKey", "").strip())
    except ApiError:
        return _login_page(tenantId, 401, _REFUSED_LOGIN)
    if (
        tenant is None
        or principal.tenant_id != tenant.id
        or not grants(principal.scopes, PASS_READ)
    ):
        return _login_page(tenantId, 403, _REFUSED_LOGIN)
    token, now = secrets.token_urlsafe(32), utcnow()
    sessions.open_session(
        services.database(),
        token_hash=_hash(token),
        tenant_id=tenant.id,
        credential=principal.credential,
        scopes=principal.scopes,
        csrf=secrets.token_urlsafe(24),
        now=now,
        expires_at=now + SESSION_TTL,
    )
    response = redirect(url_for("dashboard.home", tenantId=tenant.id), code=303)
    _set_cookie(response, tenant.id, SESSION_COOKIE, token, int(SESSION_TTL.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path=f"/dashboard/{tenant.id}")
    return response


def _session(tenant_id: str) -> dict[str, Any] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return sessions.find_session(services.database(), _hash(token), tenant_id, utcnow())


@blp.get("/")
def home(tenantId: str) -> BaseResponse:
    session = _session(tenantId)
    tenant = _tenant(tenantId)
    if session is None or tenant is None:
        return redirect(url_for("dashboard.login_form", tenantId=tenantId), code=303)
    db, now = services.database(), utcnow()
    scopes = frozenset(session.get("scopes") or ())
    may_read_operations = grants(scopes, OPERATION_READ)
    recent = overview.recent_operations(db, tenant.id, now) if may_read_operations else []
    nonce = secrets.token_urlsafe(16)
    body = render_template(
        "dashboard/home.html",
        nonce=nonce,
        tenant=tenant,
        now=now,
        totals=reading.population(db, tenant.id, None),
        types=overview.pass_types(db, tenant.id),
        installs=overview.installs_chart(db, tenant.id, now.date()),
        days_shown=overview.DAYS_SHOWN,
        may_read_operations=may_read_operations,
        operations=recent,
        campaigns=overview.campaign_outcomes(db, tenant.id) if may_read_operations else [],
        refresh_s=REFRESH_WHILE_RUNNING_S if any(row.running for row in recent) else None,
        csrf=session["csrf"],
        logout=url_for("dashboard.logout", tenantId=tenant.id),
    )
    return _html(body, 200, nonce)


@blp.post("/logout")
def logout(tenantId: str) -> BaseResponse:
    session = _session(tenantId)
    if session is not None:
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(str(session["csrf"]), sent) or not _same_origin():
            return _login_page(tenantId, 403, "The form expired; sign in again.")
        sessions.close_session(services.database(), str(session["_id"]))
    response = redirect(url_for("dashboard.login_form", tenantId=tenantId), code=303)
    response.delete_cookie(SESSION_COOKIE, path=f"/dashboard/{tenantId}")
    return response
