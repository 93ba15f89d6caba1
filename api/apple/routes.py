"""Apple's PassKit web service, called by Wallet devices: `/apple/<tenantId>/v1/...`.

A pass's webServiceURL is `{PASSWIRE_PUBLIC_URL}/apple/{tenantId}`. Devices have no API key:
they prove they hold a pass with `Authorization: ApplePass <authenticationToken>`. The latest
pass (`GET .../v1/passes/<passTypeIdentifier>/<serialNumber>`) is assembled from its stored
signed parts, never signed here.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import ValidationError

from api import services
from api.apple import storm
from api.apple.pkpass import pkpass_response
from api.apple.schemas import (
    IDENTIFIER_PATTERN,
    NOT_MODIFIED_HEADERS,
    PKPASS,
    PKPASS_HEADERS,
    PKPASS_SCHEMA,
    RETRY_AFTER_HEADERS,
    SERIAL_PATTERN,
    AppleLogSchema,
    AppleRegisterSchema,
    AppleSerialNumbersSchema,
    AppleUpdatedSinceQuerySchema,
)
from api.bodies import Blueprint, JsonBodyParser
from api.errors import ApiError, ErrorSchema, error_responses, field_errors, handle_http_exception
from api.links.installs import credit_install
from shared.apple import webservice
from shared.infra import metrics
from shared.infra.clock import utcnow
from shared.jobs import EnqueueError
from shared.live.publish import live_publish
from shared.tenancy.tenants import Tenant, TenantRegistry
from shared.webhooks.events import emit, enqueue_deliveries

log = logging.getLogger(__name__)

APPLE_PASS_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "Authorization",
    "description": "`ApplePass <authenticationToken>` of the pass named in the path.",
}
_APPLE_PASS: list[dict[str, list[str]]] = [{"ApplePass": []}]
_IDENTIFIER_RULE = "must be 1 to 128 letters, digits, '.', '_' or '-'"
_PATH_RULES = {
    "deviceLibraryIdentifier": (IDENTIFIER_PATTERN, _IDENTIFIER_RULE),
    "passTypeIdentifier": (IDENTIFIER_PATTERN, _IDENTIFIER_RULE),
    "serialNumber": (SERIAL_PATTERN, "must be 5 to 50 letters, digits, '_' or '-'"),
}
_REGISTRATION_PATH = "/devices/<deviceLibraryIdentifier>/registrations/<passTypeIdentifier>"
# Error answers in the OpenAPI document.
_BAD_PATH = {
    400: "A malformed path parameter (or body); `errors` names it.",
    404: "Unknown tenant.",
}
_NOT_AUTHORIZED = {401: "Missing or invalid `ApplePass` token for this pass."}
_RETRY_LATER = {
    "schema": ErrorSchema,
    "headers": RETRY_AFTER_HEADERS,
    "description": "Too many registration calls from this device, for this pass or from this "
    "client address, or the device holds too many registrations, or the pass is registered on "
    "too many devices; retry after `Retry-After` seconds. `errors` names which.",
}
_LOG_RETRY_LATER = {
    "schema": ErrorSchema,
    "headers": RETRY_AFTER_HEADERS,
    "description": "Too many log calls from this client address; retry after `Retry-After` "
    "seconds.",
}


class _Parser(JsonBodyParser):
    """Invalid bodies get 400 with the envelope naming each field, as the protocol expects."""

    DEFAULT_VALIDATION_STATUS = 400

    def handle_error(self, error: ValidationError, *args: Any, **kwargs: Any) -> NoReturn:
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1:  # {location: messages}
            messages = next(iter(messages.values()))
        errors = [
            {"field": "body", "reason": "must be a JSON object"}
            if item["field"] == "_schema"
            else item
            for item in field_errors(messages)
        ]
        raise ApiError(400, "The request is invalid.", errors=errors)


class _AppleBlueprint(Blueprint):
    ARGUMENTS_PARSER = _Parser()


class _RetryLater(ApiError):
    def __init__(
        self, message: str, *, retry_after: int, reason: str, field: str = "deviceLibraryIdentifier"
    ) -> None:
        super().__init__(429, message, errors=[{"field": field, "reason": reason}])
        self.retry_after = retry_after


blp = _AppleBlueprint(
    "apple",
    __name__,
    url_prefix="/apple/<tenantId>/v1",
    description="Apple PassKit web service (called by Wallet devices, not by API clients)",
)


@blp.before_request
def _check_path() -> None:
    """Unknown tenant → 404; malformed path parameters → 400 naming them."""
    args = request.view_args or {}
    registry: TenantRegistry = current_app.extensions["passwire.tenants"]
    tenant_id = args.get("tenantId", "")
    if registry.get(tenant_id) is None:
        raise ApiError(
            404,
            f"Unknown tenant '{tenant_id}'.",
            errors=[{"field": "tenantId", "reason": "unknown tenant"}],
        )
    errors = [
        {"field": name, "reason": reason}
        for name, (pattern, reason) in _PATH_RULES.items()
        if name in args and not pattern.match(args[name])
    ]
    if errors:
        raise ApiError(400, "The request is invalid.", errors=errors)


@blp.after_request
def _count_request(response: Response) -> Response:
    # By the route's template: the path holds serial numbers and device identifiers.
    rule = request.url_rule.rule if request.url_rule is not None else None
    metrics.count_passkit_request(rule, request.method, response.status_code)
    return response


@blp.errorhandler(_RetryLater)
def _retry_later(exc: _RetryLater) -> tuple[Response, int]:
    response, status = handle_http_exception(exc)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response, status


def _spend(*budgets: storm.Budget) -> None:
    """Count the call against each budget; 429 naming the first one overspent."""
    settings = services.settings()
    overspent = storm.retry_after(
        settings.redis_url, budgets, sentinel_password=settings.redis_sentinel_password
    )
    if overspent is not None:
        budget, wait = overspent
        raise _RetryLater(
            "Too many calls; retry later.",
            retry_after=wait,
            reason=budget.reason,
            field=budget.field,
        )


def _client_address() -> str:
    # The socket's peer, or what PASSWIRE_TRUSTED_PROXY_HOPS proxies report (api/app.py).
    return request.remote_addr or "unknown"


def _authorized_pass(
    tenant_id: str, device: str, pass_type_identifier: str, serial: str
) -> webservice.PassRef:
    """Count the call against the device's and the client's rates, authenticate it for the
    pass, then count it against the pass's rate (only token holders spend that one)."""
    settings = services.settings()
    _spend(
        storm.device_budget(device, storm.limits().calls_per_window),
        storm.address_budget(
            "registration", _client_address(), settings.apple_address_registration_rate
        ),
    )
    ref = webservice.PassRef(tenant_id, pass_type_identifier, serial)
    if not webservice.authenticate(services.database(), ref, request.headers.get("Authorization")):
        raise ApiError(
            401,
            "Not authorized for this pass.",
            errors=[{"field": "Authorization", "reason": "missing or invalid ApplePass token"}],
        )
    _spend(
        storm.pass_budget(
            tenant_id, pass_type_identifier, serial, settings.apple_pass_registration_rate
        )
    )
    return ref


@blp.route("/passes/<passTypeIdentifier>/<serialNumber>")
class LatestPass(MethodView):
    @error_responses(
        400,
        401,
        404,
        503,
        descriptions={
            **_BAD_PATH,
            **_NOT_AUTHORIZED,
            404: "Unknown tenant, or the pass has no Apple Wallet version.",
        },
    )
    @blp.doc(security=_APPLE_PASS)
    @blp.response(
        200,
        PKPASS_SCHEMA,
        content_type=PKPASS,
        headers=PKPASS_HEADERS,
        description="The latest .pkpass.",
    )
    @blp.alt_response(
        304,
        description="Not modified since If-Modified-Since.",
        headers=NOT_MODIFIED_HEADERS,
        success=True,
    )
    def get(self, tenantId: str, passTypeIdentifier: str, serialNumber: str) -> Response:
        """The latest version of a pass, for a device that was told it changed."""
        ref = webservice.PassRef(tenantId, passTypeIdentifier, serialNumber)
        document = webservice.find_for_device(services.database(), ref)
        if not webservice.is_authorized(document, ref, request.headers.get("Authorization")):
            raise ApiError(
                401,
                "Not authorized for this pass.",
                errors=[{"field": "Authorization", "reason": "missing or invalid ApplePass token"}],
            )
        assert document is not None
        return pkpass_response(_tenant(tenantId), document)


def _tenant(tenant_id: str) -> Tenant:
    registry: TenantRegistry = current_app.extensions["passwire.tenants"]
    tenant = registry.get(tenant_id)
    assert tenant is not None  # _check_path refused unknown tenants
    return tenant


@blp.route(f"{_REGISTRATION_PATH}/<serialNumber>")
class Registration(MethodView):
    @error_responses(400, 401, 404, 413, 503, descriptions={**_BAD_PATH, **_NOT_AUTHORIZED})
    @blp.doc(security=_APPLE_PASS)
    @blp.arguments(AppleRegisterSchema)
    @blp.response(201, description="The device is now registered for the pass.")
    @blp.alt_response(200, description="Already registered; push token updated.", success=True)
    @blp.alt_response(429, **_RETRY_LATER)
    def post(
        self,
        body: dict[str, Any],
        tenantId: str,
        deviceLibraryIdentifier: str,
        passTypeIdentifier: str,
        serialNumber: str,
    ) -> Response:
        """Register a device to receive push notifications for a pass."""
        ref = _authorized_pass(tenantId, deviceLibraryIdentifier, passTypeIdentifier, serialNumber)
        limit = storm.limits().registrations_per_device
        try:
            created = webservice.register(
                services.database(),
                ref,
                device=deviceLibraryIdentifier,
                push_token=body["pushToken"],
                max_per_device=limit,
                max_per_pass=services.settings().apple_max_devices_per_pass,
            )
        except webservice.RegistrationLimitReached:
            raise _RetryLater(
                "This device holds too many registrations.",
                retry_after=storm.LIMIT_RETRY_AFTER_S,
                reason=f"already registered for {limit} passes",
            ) from None
        except webservice.PassDeviceLimitReached as full:
            raise _RetryLater(
                "This pass is registered on too many devices.",
                retry_after=storm.LIMIT_RETRY_AFTER_S,
                reason=f"already registered on {full.limit} devices",
                field="serialNumber",
            ) from None
        if created:
            log.info("apple registration tenant=%s serial=%s", tenantId, serialNumber)
            _announce_install_state(ref)
            credit_install(tenantId, serialNumber, "apple")
        return Response(status=201 if created else 200)

    @error_responses(400, 401, 404, 503, descriptions={**_BAD_PATH, **_NOT_AUTHORIZED})
    @blp.doc(security=_APPLE_PASS)
    @blp.response(200, description="The device is no longer registered for the pass.")
    @blp.alt_response(429, **_RETRY_LATER)
    def delete(
        self,
        tenantId: str,
        deviceLibraryIdentifier: str,
        passTypeIdentifier: str,
        serialNumber: str,
    ) -> Response:
        """Unregister a device from a pass."""
        ref = _authorized_pass(tenantId, deviceLibraryIdentifier, passTypeIdentifier, serialNumber)
        if webservice.unregister(services.database(), ref, device=deviceLibraryIdentifier):
            log.info("apple unregistration tenant=%s serial=%s", tenantId, serialNumber)
            _announce_install_state(ref)
        return Response(status=200)


def _announce_install_state(ref: webservice.PassRef) -> None:
    """Installed while a device holds the pass: record it and tell the tenant's webhooks."""
    db = services.database()
    event = webservice.note_install_state(db, ref)
    tenant = _tenant(ref.tenant_id)
    if event is not None:
        live_publish(services.settings(), tenant.id, ref.serial, event, {"wallet": "apple"})
    if event is None or not tenant.webhooks:
        return
    data = {"passId": ref.serial, "wallet": "apple"}
    ids = emit(db, tenant.id, tenant.webhooks, event, data, now=utcnow())
    try:
        enqueue_deliveries(services.jobs(), tenant.id, ids)
    except EnqueueError:
        log.warning("webhook deliveries stay in the outbox until re-queued")


@blp.route(_REGISTRATION_PATH)
class UpdatedPasses(MethodView):
    @error_responses(400, 404, 503, descriptions=_BAD_PATH)
    @blp.doc(security=[])
    @blp.arguments(AppleUpdatedSinceQuerySchema, location="query")
    @blp.response(200, AppleSerialNumbersSchema)
    @blp.alt_response(204, description="No registered pass changed since the tag.", success=True)
    def get(
        self,
        query: dict[str, Any],
        tenantId: str,
        deviceLibraryIdentifier: str,
        passTypeIdentifier: str,
    ) -> Any:
        """Serial numbers of the passes this device registered that changed since a tag.

        Unauthenticated, as in Apple's protocol: it only reveals serials the device itself
        registered. lastUpdated is a string holding an exact integer tag.
        """
        updated = webservice.serials_updated_since(
            services.database(),
            tenant_id=tenantId,
            device=deviceLibraryIdentifier,
            pass_type_identifier=passTypeIdentifier,
            passes_updated_since=query.get("passesUpdatedSince"),
        )
        if updated is None:
            return Response(status=204)
        return {"serialNumbers": updated.serial_numbers, "lastUpdated": updated.last_updated}


@blp.route("/log")
class DeviceLog(MethodView):
    @error_responses(
        400,
        404,
        413,
        descriptions={400: 'The body is not `{"logs": [...]}`.', 404: "Unknown tenant."},
    )
    @blp.doc(security=[])
    @blp.arguments(AppleLogSchema)
    @blp.response(200, description="Logged.")
    @blp.alt_response(429, **_LOG_RETRY_LATER)
    def post(self, body: dict[str, Any], tenantId: str) -> Response:
        """Messages a device reports about errors it met with our web service."""
        limit = services.settings().apple_address_log_rate
        _spend(storm.address_budget("log", _client_address(), limit))
        messages, dropped = webservice.sanitise_device_logs(body["logs"])
        for message in messages:
            log.warning("apple device log tenant=%s: %s", tenantId, message)
        if dropped:
            log.warning("apple device log tenant=%s: %d more messages dropped", tenantId, dropped)
        return Response(status=200)
