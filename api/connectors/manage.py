"""Connectors through the API (docs/connectors.md): a tenant defines, reads, replaces and
deletes connectors with the same TOML a `connectors/<name>.toml` file holds, checked by the
same loader. Stored in MongoDB (shared/repositories/connectors.py); every API and worker
process sees a change within a second or so, without a restart (shared/connectors/stored.py).

A connector defined by a file stays the operator's: the API reads it but does not replace or
delete it (409 naming the file), so a deployment's files always mean what they say."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import Schema, fields

from api import idempotency, services
from api.auth import authenticate_tenant, current_tenant, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from shared.connectors.config import (
    FOLDER,
    NAME_PATTERN,
    ConnectorConfigError,
    inline_secret,
    parse_connector,
)
from shared.connectors.stored import StoredConnectors, where
from shared.credentials.scopes import CONNECTOR_WRITE, PASS_READ
from shared.infra.clock import utcnow
from shared.repositories import connectors as repo
from shared.tenancy.tenants import Tenant

log = logging.getLogger(__name__)

TOML = "application/toml"
TEXT = "text/plain"
# The loader's own field limits (64 KiB per body template…) with room for comments.
MAX_DEFINITION_BYTES = 128 * 1024
SOURCE_FILE, SOURCE_API = "file", "api"

blp = Blueprint(
    "connector_definitions",
    __name__,
    url_prefix="/api/<tenantId>/connectors",
    description="Connectors as data: define inbound connectors with their TOML, no restart",
)

DEFINITION_BODY: dict[str, Any] = {
    "required": True,
    "description": "The connector's TOML, exactly as a `connectors/<name>.toml` file "
    f"(docs/connectors.md), as {TEXT} or {TOML}; at most {MAX_DEFINITION_BYTES} bytes. "
    "Secrets are named by environment variable (`secret_env`), never written in it.",
    "content": {TEXT: {"schema": {"type": "string"}}},
}
DEFINITION_HEADERS: dict[str, Any] = {
    "X-Passwire-Source": {
        "description": "`file` (config/tenants/<id>/connectors/) or `api`.",
        "required": True,
        "schema": {"type": "string", "enum": [SOURCE_FILE, SOURCE_API]},
    }
}


class ConnectorSummarySchema(Schema):
    name = fields.String(required=True)
    source = fields.String(required=True, metadata={"enum": [SOURCE_FILE, SOURCE_API]})
    # Grows with every PUT; null for a file's connector.
    version = fields.Integer(required=True, allow_none=True)
    platform = fields.String(required=True)


class ConnectorListSchema(Schema):
    connectors = fields.List(fields.Nested(ConnectorSummarySchema), required=True)


def _body_limit() -> None:
    """`before_request`: a definition has its own size limit (413 above it)."""
    if request.method == "PUT":
        request.max_content_length = MAX_DEFINITION_BYTES


blp.before_request(authenticate_tenant)
blp.before_request(_body_limit)
blp.after_request(idempotency.after_request)


def _base() -> Tenant:
    """The tenant as its files define it."""
    return services.tenants().tenants[current_tenant().id]


def _file_of(tenant_id: str, name: str) -> Path:
    return services.settings().tenants_dir / tenant_id / FOLDER / f"{name}.toml"


def _unknown() -> ApiError:
    return ApiError(404, "Unknown connector.", errors=[{"field": "name", "reason": "unknown"}])


def _defined_by_file(tenant_id: str, name: str) -> ApiError:
    path = f"config/tenants/{tenant_id}/{FOLDER}/{name}.toml"
    return ApiError(
        409,
        f"Connector '{name}' is defined by the file {path}; change it there.",
        errors=[{"field": "name", "reason": f"defined by the file {path}"}],
    )


def _changed(tenant_id: str) -> None:
    """This process sees the change at once (the others within a second)."""
    stored: StoredConnectors = current_app.extensions["passwire.stored_connectors"]
    stored.forget(tenant_id)


def _definition_text() -> str:
    if request.mimetype not in (TEXT, TOML):
        raise ApiError(
            415,
            f"Send the connector's TOML as {TEXT} or {TOML}.",
            errors=[{"field": "Content-Type", "reason": f"must be {TEXT} or {TOML}"}],
        )
    try:
        return request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            422, "The connector is invalid.", errors=[{"field": "body", "reason": "not UTF-8"}]
        ) from None


def _invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "The connector is invalid.", errors=[{"field": field, "reason": reason}])


@blp.route("")
class Connectors(MethodView):
    @error_responses(*TENANT_API_ERRORS)
    @requires_scope(PASS_READ)
    @blp.response(200, ConnectorListSchema)
    def get(self, tenantId: str) -> Any:
        """The tenant's connectors, by name: from its files, and defined through the API
        (with their version, which grows with every `PUT`)."""
        files = {c.name: c.platform for c in _base().connectors}
        listed: list[dict[str, Any]] = [
            {"name": name, "source": SOURCE_FILE, "version": None, "platform": platform}
            for name, platform in files.items()
        ]
        for document in repo.of_tenant(services.database(), tenantId):
            if document["name"] in files:
                continue  # the file's connector is the one that answers
            listed.append(
                {
                    "name": document["name"],
                    "source": SOURCE_API,
                    "version": int(document["version"]),
                    "platform": str(document["platform"]),
                }
            )
        return {"connectors": sorted(listed, key=lambda item: str(item["name"]))}


@blp.route("/<name>")
class ConnectorDefinition(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions={404: "Unknown tenant or connector."})
    @requires_scope(PASS_READ)
    @blp.alt_response(
        200,
        schema={"type": "string"},
        content_type=TOML,
        headers=DEFINITION_HEADERS,
        description="The connector's TOML: what `PUT` takes.",
        success=True,
    )
    def get(self, tenantId: str, name: str) -> Any:
        """The connector's definition as TOML, from its file or as last `PUT`."""
        if any(c.name == name for c in _base().connectors):
            text, source = _file_of(tenantId, name).read_text(encoding="utf-8"), SOURCE_FILE
            version = None
        else:
            document = repo.find(services.database(), tenantId, name)
            if document is None:
                raise _unknown()
            text, source, version = str(document["toml"]), SOURCE_API, int(document["version"])
        response = Response(text, mimetype=TOML)
        response.headers["X-Passwire-Source"] = source
        if version is not None:
            response.headers["X-Passwire-Version"] = str(version)
        return response

    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            409: "A file defines this connector (the file is named), or its `[outbound]` "
            "endpoint id is one of the tenant's webhooks.",
            413: f"The definition is over {MAX_DEFINITION_BYTES} bytes.",
            415: f"The body is neither {TEXT} nor {TOML}.",
            422: "The definition is invalid, exactly as the file would fail start-up (the "
            "error names the field, e.g. `auth.scheme`), or it writes a secret in "
            "`outbound.url` instead of naming an environment variable. Nothing is stored.",
        },
    )
    @requires_scope(CONNECTOR_WRITE)
    @blp.doc(requestBody=DEFINITION_BODY)
    @blp.response(200, ConnectorSummarySchema, description="Replaced.")
    @blp.alt_response(201, schema=ConnectorSummarySchema, description="Created.", success=True)
    def put(self, tenantId: str, name: str) -> Any:
        """Define or replace the connector `POST /connect/{tenantId}/{name}` runs, checked by
        the loader of `connectors/<name>.toml` files. Every API and worker process uses it
        within a second or so, without a restart; its `[outbound]` endpoint receives the
        events emitted after that."""
        base = _base()
        if not NAME_PATTERN.fullmatch(name):
            raise _invalid("name", "lower-case letters, digits, - and _ (at most 63)")
        if any(c.name == name for c in base.connectors):
            raise _defined_by_file(tenantId, name)
        text = _definition_text()
        secret = inline_secret(text)
        if secret is not None:
            raise _invalid(secret, "carries a credential: name an environment variable (${NAME})")
        try:
            connector = parse_connector(name, text, where(tenantId, name))
        except ConnectorConfigError as exc:
            raise _invalid(exc.field, str(exc)) from None
        outbound = connector.outbound
        if outbound is not None and any(e.id == outbound.id for e in base.webhooks):
            raise ApiError(
                409,
                f"The webhook endpoint id {outbound.id!r} is taken in tenant.toml.",
                errors=[{"field": "outbound", "reason": f"endpoint id {outbound.id} is taken"}],
            )
        version = repo.put(
            services.database(), tenantId, name, text, platform=connector.platform, now=utcnow()
        )
        _changed(tenantId)
        log.info("connector %s/%s: version %d stored", tenantId, name, version)
        summary = {
            "name": name,
            "source": SOURCE_API,
            "version": version,
            "platform": connector.platform,
        }
        return summary, 201 if version == 1 else 200

    @error_responses(
        *TENANT_API_ERRORS,
        409,
        descriptions={
            404: "Unknown tenant or connector.",
            409: "A file defines this connector (the file is named).",
        },
    )
    @requires_scope(CONNECTOR_WRITE)
    @blp.response(204, description="Deleted: the connector's route answers 404.")
    def delete(self, tenantId: str, name: str) -> Any:
        """Delete a connector defined through the API: `POST /connect/{tenantId}/{name}`
        answers 404 within a second or so, and its `[outbound]` endpoint gets no new
        events (deliveries already queued are still made)."""
        if any(c.name == name for c in _base().connectors):
            raise _defined_by_file(tenantId, name)
        if not repo.delete(services.database(), tenantId, name):
            raise _unknown()
        _changed(tenantId)
        log.info("connector %s/%s: deleted", tenantId, name)
        return None
