"""Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, g, request
from flask_smorest import Api
from werkzeug.middleware.proxy_fix import ProxyFix

from api.apple.routes import APPLE_PASS_SCHEME
from api.apple.routes import blp as apple_blp
from api.bodies import BoundedRequest
from api.connectors.manage import blp as connector_definitions_blp
from api.connectors.routes import blp as connectors_blp
from api.dashboard.routes import blp as dashboard_blp
from api.errors import ErrorSchema, register_error_handlers
from api.google.callbacks import blp as google_blp
from api.health.routes import blp as health_blp
from api.imports.routes import blp as imports_blp
from api.lifecycle.routes import blp as lifecycle_blp
from api.links.routes import blp as links_blp
from api.live.routes import blp as live_blp
from api.notifications.routes import blp as notifications_blp
from api.operations.routes import blp as operations_blp
from api.pages.routes import blp as pages_blp
from api.pass_data.routes import blp as pass_data_blp
from api.pass_email.routes import blp as pass_email_blp
from api.passes.routes import blp as passes_blp
from api.passtypes.routes import blp as passtypes_blp
from api.push_updates.routes import blp as push_updates_blp
from api.stats.routes import allow_blp as stats_allow_blp
from api.stats.routes import blp as stats_blp
from api.webhooks.routes import blp as webhooks_blp
from config.settings import Settings, load_settings
from shared.connectors.stored import StoredConnectors, chain
from shared.infra.db import get_database
from shared.infra.logs import bind_tenant, configure_logging, reset_tenant
from shared.jobs import JobQueue
from shared.passtypes.active import StoredVersions
from shared.tenancy.tenants import load_registry

log = logging.getLogger(__name__)

API_DESCRIPTION = """\
Issue, update and push Apple Wallet and Google Wallet passes, driven from a brand's systems.

* Credentials: `X-API-Key` (a key of the tenant in the path) or `Authorization: Bearer <JWT>`
  signed by the tenant; each operation names the scope it needs in `x-required-scope`.
* Jobs answer `202` with a `correlationId`; follow them at `/api/{tenantId}/operations/{id}`.
* `Idempotency-Key` (request header, POST, PUT and PATCH): a repeat within 24 h gets the original
  answer, marked `Idempotent-Replayed: true`; the same key for another request gets `422`.
* Every error has the `Error` shape: `status`, `code`, `message`, `errors[{field, reason}]`.
"""


class PasswireApi(Api):  # type: ignore[misc]
    # Documents our envelope as the error response of every operation in the OpenAPI spec.
    ERROR_SCHEMA = ErrorSchema


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask("passwire")
    app.request_class = BoundedRequest  # chunked bodies held to the size limits too
    if settings.trusted_proxy_hops:
        # The client address (rate limits per client) is the one the proxies saw.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE="passwire",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        API_SPEC_OPTIONS={"info": {"description": API_DESCRIPTION}},
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        # Interactive docs only where they help a developer; the JSON spec is always served.
        OPENAPI_SWAGGER_UI_PATH="/docs" if settings.is_local else None,
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["passwire.settings"] = settings
    # Active stored pass type versions, looked up at most once a second (docs/passtypes.md).
    stored_versions = StoredVersions(lambda: get_database(settings))
    app.extensions["passwire.passtype_versions"] = stored_versions
    # Connectors defined through the API, likewise (docs/connectors.md).
    stored_connectors = StoredConnectors(lambda: get_database(settings))
    app.extensions["passwire.stored_connectors"] = stored_connectors
    app.extensions["passwire.tenants"] = load_registry(
        settings.tenants_dir, include_local_only=settings.is_local
    ).with_overlay(chain(stored_versions, stored_connectors))
    app.extensions["passwire.jobs"] = JobQueue(settings)

    api = PasswireApi(app)
    api.spec.components.security_scheme(
        "ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
    api.spec.components.security_scheme("ApplePass", APPLE_PASS_SCHEME)
    api.spec.components.security_scheme(
        "BearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.options["security"] = [{"ApiKey": []}, {"BearerAuth": []}]
    for blueprint in (
        health_blp,
        passes_blp,
        links_blp,
        lifecycle_blp,
        live_blp,
        pass_data_blp,
        pass_email_blp,
        push_updates_blp,
        passtypes_blp,
        connector_definitions_blp,
        imports_blp,
        notifications_blp,
        operations_blp,
        stats_blp,
        apple_blp,
        google_blp,
        webhooks_blp,
        connectors_blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(pages_blp)  # HTML for customers: not in the OpenAPI document
    app.register_blueprint(dashboard_blp)  # HTML for operators: not in it either
    app.register_blueprint(stats_allow_blp)  # OPTIONS only: see api/stats/routes.py
    register_error_handlers(app)
    _log_the_tenant_of_each_request(app)
    # Indexes are created by workers at start-up (workers/celery_app.py): the API starts
    # even while MongoDB is still coming up, and /readyz says so.
    return app


def _log_the_tenant_of_each_request(app: Flask) -> None:
    """Every log line of a request names its tenant (a configured one: the path is anyone's
    to write)."""
    tenants = app.extensions["passwire.tenants"]

    @app.before_request
    def _bind_tenant() -> None:
        tenant_id = (request.view_args or {}).get("tenantId")
        # The tenants as configured: naming one needs no look-up of its pass type versions.
        known = tenant_id if isinstance(tenant_id, str) and tenant_id in tenants.tenants else None
        g.passwire_log_tenant = bind_tenant(known)

    @app.teardown_request
    def _reset_tenant(_: BaseException | None) -> None:
        token = g.pop("passwire_log_tenant", None)
        if token is not None:
            reset_tenant(token)
