"""The walletobjects v1 REST surface: routing, bearer auth, quotas, then the store.

Order of checks, as Google applies them: unknown route (404), bearer token (401), scope
(403), per-issuer rate quota (429), injected faults, issuer permission (403), then the
request itself (400/404/409, notification quota 429).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from dev.fake_google.errors import GoogleApiError, Reply
from dev.fake_google.oauth import WALLET_SCOPE
from dev.fake_google.resources import (
    NOTIFYING,
    Collection,
    invalid,
    issuer_of,
    parse_message,
)
from dev.fake_google.state import FakeGoogleState

PREFIX = "/walletobjects/v1/"
_REALM = 'Bearer realm="https://accounts.google.com/"'
_CREDENTIALS_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_NOT_PARSED = object()  # marks a body that is not JSON


@dataclass(frozen=True)
class Route:
    collection: Collection
    resource_id: str | None  # None: the collection itself (insert)
    action: str | None  # "addMessage", or None for the resource itself

    def operation(self, method: str) -> str | None:
        """insert/get/patch/update/addMessage, or None if the method does not apply."""
        if self.resource_id is None:
            return "insert" if method == "POST" else None
        if self.action == "addMessage":
            return "addMessage" if method == "POST" else None
        return {"GET": "get", "PATCH": "patch", "PUT": "update"}.get(method)


def parse_route(path: str) -> Route | None:
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].split("/")
    collection = Collection.parse(parts[0])
    if collection is None or len(parts) > 3:
        return None
    resource_id = urllib.parse.unquote(parts[1]) if len(parts) > 1 else None
    action = parts[2] if len(parts) == 3 else None
    if action not in (None, "addMessage") or resource_id == "":
        return None
    return Route(collection, resource_id, action)


def _parse_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return _NOT_PARSED


def _authenticate(state: FakeGoogleState, authorization: str | None) -> str:
    """The client_email behind the bearer token; raises 401/403."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GoogleApiError(
            401,
            f"Request is missing required authentication credential. {_CREDENTIALS_HINT}",
            "required",
            {"WWW-Authenticate": _REALM},
        )
    issued = state.tokens.lookup(token.strip(), state.now())
    if issued is None:
        raise GoogleApiError(
            401,
            f"Request had invalid authentication credentials. {_CREDENTIALS_HINT}",
            "authError",
            {"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
        )
    if WALLET_SCOPE not in issued.scopes:
        raise GoogleApiError(
            403,
            "Request had insufficient authentication scopes.",
            "insufficientPermissions",
            {"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{WALLET_SCOPE}"'},
        )
    return issued.client_email


def _issuer(route: Route, document: Any) -> str | None:
    if route.resource_id is not None:
        return issuer_of(route.resource_id)
    return issuer_of(document.get("id")) if isinstance(document, dict) else None


def _add_message(state: FakeGoogleState, route: Route, resource_id: str, document: Any) -> Any:
    state.wallet.find(route.collection, resource_id)  # 404 before any quota talk
    message = parse_message(document)
    limit = state.limits.notification_limit
    if message.get("messageType") == NOTIFYING and not state.notifications.admit(
        resource_id, state.now(), limit
    ):
        state.count("notification_quota_refusals")
        raise GoogleApiError(
            429,
            f"QuotaExceeded: {resource_id} already received the notification limit of "
            f"{limit} TEXT_AND_NOTIFY messages in the last 24 hours.",
            "quotaExceeded",
        )
    resource = state.wallet.add_message(route.collection, resource_id, message, state.now())
    return {"resource": resource}


def _perform(state: FakeGoogleState, route: Route, operation: str, document: Any) -> Any:
    if document is _NOT_PARSED:
        raise invalid("Invalid JSON payload received.")
    if operation == "insert":
        return state.wallet.insert(route.collection, document)
    resource_id = route.resource_id
    assert resource_id is not None
    if issuer_of(resource_id) is None:
        raise invalid(f"Invalid resource ID: {resource_id!r}")
    if operation == "get":
        return state.wallet.get(route.collection, resource_id)
    if operation == "patch":
        return state.wallet.patch(route.collection, resource_id, document)
    if operation == "update":
        return state.wallet.update(route.collection, resource_id, document)
    return _add_message(state, route, resource_id, document)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    authorization: str | None  # the Authorization header


def _serve(
    state: FakeGoogleState, route: Route, operation: str, request: Request
) -> tuple[Reply, str | None]:
    document = _parse_body(request.body)
    issuer = _issuer(route, document)
    try:
        client_email = _authenticate(state, request.authorization)
        if issuer is not None and not state.rates.admit(
            issuer, time.monotonic(), state.limits.quota_rps
        ):
            state.count("rate_limited")
            raise GoogleApiError(
                429,
                f"Quota exceeded for quota metric 'Requests' and limit 'Requests per second "
                f"per issuer' ({state.limits.quota_rps}) of issuer {issuer}.",
                "rateLimitExceeded",
            )
        fault = state.take_fault(request.method, request.path)
        if fault is not None:
            raise GoogleApiError(fault)
        if issuer is not None and not state.may_use_issuer(client_email, issuer):
            state.count("forbidden")
            raise GoogleApiError(403, "The caller does not have permission", "forbidden")
        return Reply(200, _perform(state, route, operation, document)), issuer
    except GoogleApiError as err:
        if err.code == 401:
            state.count("unauthenticated")
        elif err.code == 403 and err.reason == "insufficientPermissions":
            state.count("forbidden")
        return err.reply(), issuer


def handle_rest(
    state: FakeGoogleState, method: str, target: str, body: bytes, authorization: str | None
) -> Reply:
    path = urllib.parse.urlsplit(target).path
    route = parse_route(path)
    operation = None if route is None else route.operation(method)
    with state.lock:
        state.count("requests")
        if route is None or operation is None:
            reply, issuer = GoogleApiError(404, "Method not found.", "notFound").reply(), None
        else:
            request = Request(method, path, body, authorization)
            reply, issuer = _serve(state, route, operation, request)
        state.record(method, path, reply.status, issuer)
    return reply
