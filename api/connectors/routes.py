"""`POST /connect/<tenantId>/<connector>`: a marketing tool calls a connector the tenant
declared (shared/connectors/). Not under /api: the caller has no API key, it proves itself
with the connector's secret or signature. In order: the connector exists (404), the request
is authentic and not replayed (401, before anything is parsed or written), the payload maps
to an API call (422 naming the missing field), and the API answers the call (202 and a
correlationId, as it would a REST client)."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from flask import request
from flask.views import MethodView

from api import services
from api.bodies import Blueprint, load_json_body
from api.connectors.dispatch import call_api
from api.errors import ApiError, error_responses
from shared.connectors import auth, replay
from shared.connectors.config import Connector
from shared.connectors.mapping import MappingError, map_payload
from shared.infra.redis_clients import process_client

log = logging.getLogger(__name__)

blp = Blueprint(
    "connectors",
    __name__,
    url_prefix="/connect",
    description="Inbound connectors: marketing tools call passwire with their own JSON.",
)


def _refused(reason: str) -> ApiError:
    # One message for every cause: the reason is logged, the caller learns which header.
    return ApiError(
        401, "The request is not authenticated.", errors=[{"field": "auth", "reason": reason}]
    )


def _connector(tenant_id: str, name: str) -> Connector:
    tenant = services.tenants().get(tenant_id)
    found = next((c for c in tenant.connectors if c.name == name), None) if tenant else None
    if found is None:
        raise ApiError(
            404, "Unknown connector.", errors=[{"field": "connector", "reason": "unknown"}]
        )
    return found


def _public_uri() -> str:
    """The URL the caller signed: the public base URL, this path and its query string."""
    query = request.query_string.decode("latin-1")
    base = services.settings().public_base_url.rstrip("/")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def _authenticate(tenant_id: str, connector: Connector, body: bytes) -> None:
    secret = connector.auth.secret()
    if secret is None:
        log.warning("connector %s: %s is not set", connector.name, connector.auth.secret_env)
        raise _refused("the connector's secret is not configured")
    signed = auth.Request(request.method, _public_uri(), request.headers, body)
    try:
        key = auth.verify(connector.auth, secret, signed, now=time.time())
    except auth.Unauthenticated as exc:
        log.info("connector %s refused: %s", connector.name, exc)
        raise _refused(str(exc)) from None
    if key is None:
        return
    try:
        client = process_client(
            services.settings().redis_url,
            sentinel_password=services.settings().redis_sentinel_password,
        )
        fresh = replay.first_use(client, tenant_id, connector.name, key, connector.auth.tolerance_s)
    except redis.RedisError as exc:
        raise ApiError(503, "Redis is unavailable; nothing was done.") from exc
    if not fresh:
        raise _refused("this signature was already used")


@blp.route("/<tenantId>/<connector>")
class ConnectorCall(MethodView):
    @error_responses(400, 401, 404, 409, 413, 422, 503)
    @blp.doc(security=[])
    @blp.response(202, description="Accepted: the API's answer to the mapped action.")
    def post(self, tenantId: str, connector: str) -> Any:
        """Run the connector's mapped action with the caller's JSON (any shape the mapping
        reads). 401 when the secret or signature is wrong, the timestamp is outside the window
        or the signature was already used; 422 naming a field the mapping needs that the
        payload lacks; otherwise the API's own answer to the action (202, correlationId)."""
        found = _connector(tenantId, connector)
        raw = request.get_data(cache=True)
        _authenticate(tenantId, found, raw)
        payload = load_json_body(raw)
        if not isinstance(payload, dict | list):
            raise ApiError(
                400,
                "Send a JSON body.",
                errors=[{"field": "body", "reason": "must be a JSON object or array"}],
            )
        try:
            call = map_payload(found.action, payload)
        except MappingError as exc:
            raise ApiError(
                422,
                "The payload does not map.",
                errors=[{"field": exc.field, "reason": exc.reason}],
            ) from None
        return call_api(tenantId, connector, call, request.remote_addr or "127.0.0.1")
