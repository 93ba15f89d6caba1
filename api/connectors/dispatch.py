"""Running a connector's mapped action through the API itself: an in-process request to the
same view a REST client would call (`POST /passes`, `PATCH /passes?id…`, …), so validation,
domain code, jobs, idempotency and answers are the API's, not a copy. The request carries a
Principal with only the scope the action needs, in the WSGI environ (api/auth.py), where no
client header can put one."""

from __future__ import annotations

from typing import Any

from flask import current_app
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from api import services
from api.auth import INTERNAL_PRINCIPAL
from api.errors import ApiError
from api.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.passes.schemas import load_pass_lookup
from shared.connectors.config import BALANCE, CREATE, NOTIFY, PUSH_UPDATE, REDEEM, UPDATE
from shared.connectors.mapping import ApiCall
from shared.credentials.api_keys import Principal
from shared.credentials.scopes import NOTIFICATION_SEND, PASS_REDEEM, PASS_WRITE
from shared.repositories import passes as passes_repo

# Action → (method, path under /api/<tenantId>, the scope that path requires).
ROUTES = {
    CREATE: ("POST", "/passes", PASS_WRITE),
    UPDATE: ("PATCH", "/passes", PASS_WRITE),
    NOTIFY: ("PUT", "/passes/notification", NOTIFICATION_SEND),
    PUSH_UPDATE: ("POST", "/push-updates", NOTIFICATION_SEND),
    REDEEM: ("POST", "/redemptions", PASS_REDEEM),
    BALANCE: ("POST", "/passes/{passId}/balance", PASS_WRITE),
}


def call_api(tenant_id: str, connector: str, call: ApiCall, remote_addr: str) -> Response:
    """The API's own answer to the call (202 and a correlationId, or its error)."""
    method, path, scope = ROUTES[call.kind]
    query: dict[str, str] = call.query
    if "{passId}" in path:
        # The balance route names its pass in the path: find the one the query names.
        path, query = path.replace("{passId}", _one_pass(tenant_id, query)), {}
    environ: dict[str, Any] = EnvironBuilder(
        path=f"/api/{tenant_id}{path}",
        method=method,
        query_string=query,
        json=call.body,
        headers=[(IDEMPOTENCY_HEADER, call.idempotency_key)] if call.idempotency_key else None,
        environ_base={"REMOTE_ADDR": remote_addr},
    ).get_environ()
    environ[INTERNAL_PRINCIPAL] = Principal(tenant_id, frozenset({scope}), f"connector:{connector}")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return Response.from_app(app.wsgi_app, environ, buffered=True)


def _one_pass(tenant_id: str, query: dict[str, str]) -> str:
    lookup = load_pass_lookup(MultiDict(query))
    matches = passes_repo.find_pass_ids(services.database(), tenant_id, lookup, limit=2)
    if not matches:
        raise ApiError(404, "No pass matches.", errors=[{"field": "id", "reason": "no match"}])
    if len(matches) > 1:
        raise ApiError(
            409,
            "Several passes match; name one by its id or a unique identifier.",
            errors=[{"field": "id", "reason": "more than one pass matches"}],
        )
    return str(matches[0])
