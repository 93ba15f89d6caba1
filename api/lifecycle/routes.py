"""A pass's lifecycle: its status and expirationDate (`PUT …/status`), redeeming it (by id,
external identifier or scanned barcode) and its balance (`POST …/balance`).

Each change is decided at once, atomically, in MongoDB; a refresh job then re-renders the
pass and pushes its devices (api/lifecycle/refresh.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import request
from flask.views import MethodView

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from api.lifecycle.refresh import refresh, state_view
from api.lifecycle.schemas import (
    BalanceAnswerSchema,
    BalanceChangeSchema,
    PassStateSchema,
    RedeemLookupSchema,
    RedeemSchema,
    StatusAcceptedSchema,
    StatusChangeSchema,
)
from api.lookup import find_tenant_pass
from api.passes.schemas import ACCEPTED_HEADERS, LOOKUP_PARAMETER, load_pass_lookup
from shared.credentials.scopes import PASS_REDEEM, PASS_WRITE
from shared.infra.clock import utcnow
from shared.jobs import EnqueueError
from shared.lifecycle import BALANCE_KIND, REDEEM_KIND, STATUS_KIND, balances, status_changes
from shared.lifecycle.status_changes import PassGone, StatusChanged
from shared.lifecycle.transitions import KEEP, Invalid, Refused
from shared.repositories import lifecycle as lifecycle_repo
from shared.repositories import passes as passes_repo
from shared.webhooks.config import PASS_REDEEMED
from shared.webhooks.events import emit, enqueue_deliveries

log = logging.getLogger(__name__)

blp = Blueprint(
    "lifecycle",
    __name__,
    url_prefix="/api/<tenantId>",
    description="A pass's lifecycle: status, expiration, redemption and balance.",
)
protect(blp)


def _pass_gone() -> ApiError:
    return ApiError(404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}])


_CONFLICT_DOC = (
    "The pass's state does not allow it; `code` says why (invalid_transition, "
    "not_redeemable, no_balance, insufficient_balance) and `errors` names the current status "
    "or the field at fault (or a request with this Idempotency-Key is still being processed)."
)


def _refused(exc: Refused) -> ApiError:
    return ApiError(
        409, exc.message, code=exc.code, errors=[{"field": exc.field, "reason": exc.reason}]
    )


def _invalid(exc: Invalid) -> ApiError:
    return ApiError(
        422, "The request is invalid.", errors=[{"field": exc.field, "reason": exc.reason}]
    )


def _accepted(pass_id: str, kind: str, changed: StatusChanged) -> Any:
    """202: the new state and the refresh job; the change is undone if none can be queued."""
    tenant_id = current_tenant().id

    def undo() -> bool:
        return status_changes.undo(services.database(), tenant_id, pass_id, changed)

    correlation_id, headers = refresh(pass_id, kind, undo)
    return {**state_view(pass_id, changed.after), "correlationId": correlation_id}, 202, headers


def _redeem(document: Mapping[str, Any]) -> Any:
    pass_id = str(document["_id"])
    pass_type = current_tenant().pass_types.get(str(document["passType"]))
    try:
        status_changes.check_redeemable(
            str(document["passType"]), pass_type.redeemable if pass_type else None
        )
        changed = status_changes.redeem(
            services.database(), current_tenant().id, document, now=utcnow()
        )
    except Refused as exc:
        raise _refused(exc) from exc
    except PassGone as exc:
        raise _pass_gone() from exc
    answer = _accepted(pass_id, REDEEM_KIND, changed)
    _announce_redeemed(pass_id, answer[0]["correlationId"])
    return answer


def _announce_redeemed(pass_id: str, correlation_id: str) -> None:
    """`pass.redeemed` to the tenant's webhooks (and connectors' outbound), once the
    redemption is decided; a lost enqueue leaves the deliveries to the outbox sweep."""
    tenant = current_tenant()
    if not any(endpoint.subscribes_to(PASS_REDEEMED) for endpoint in tenant.webhooks):
        return
    db = services.database()
    data = {"passId": pass_id}
    ids = emit(
        db,
        tenant.id,
        tenant.webhooks,
        PASS_REDEEMED,
        data,
        now=utcnow(),
        correlation_id=correlation_id,
    )
    try:
        enqueue_deliveries(services.jobs(), tenant.id, ids)
    except EnqueueError:
        log.warning("webhook deliveries stay in the outbox until re-queued")


@blp.route("/passes/<passId>/status")
class PassStatus(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={404: "Unknown tenant or pass.", 409: _CONFLICT_DOC},
    )
    @requires_scope(PASS_WRITE)
    @blp.arguments(StatusChangeSchema)
    @blp.response(202, StatusAcceptedSchema, headers=ACCEPTED_HEADERS)
    @blp.alt_response(
        200, schema=PassStateSchema, description="The pass is in that state already: no job."
    )
    def put(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Set the pass's status and/or expirationDate. A worker re-renders it (Apple:
        `voided`, `expirationDate`) and pushes its devices. Refused transitions get 409
        naming the current status."""
        document = find_tenant_pass(passId)
        try:
            changed = status_changes.change_status(
                services.database(),
                current_tenant().id,
                document,
                status=body.get("status"),
                expiration_date=body.get("expirationDate", KEEP),
                now=utcnow(),
            )
        except Refused as exc:
            raise _refused(exc) from exc
        except Invalid as exc:
            raise _invalid(exc) from exc
        except PassGone as exc:
            raise _pass_gone() from exc
        if changed is None:
            return state_view(passId, document), 200
        return _accepted(passId, STATUS_KIND, changed)


@blp.route("/passes/<passId>/redeem")
class PassRedemption(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={404: "Unknown tenant or pass.", 409: _CONFLICT_DOC},
    )
    @requires_scope(PASS_REDEEM)
    @blp.arguments(RedeemSchema)
    @blp.response(202, StatusAcceptedSchema, headers=ACCEPTED_HEADERS)
    def post(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Redeem an active pass of a redeemable type, once: of concurrent redemptions one
        gets 202, the others 409 (`invalid_transition`, already redeemed)."""
        return _redeem(find_tenant_pass(passId))


_REDEEM_LOOKUP = {
    **LOOKUP_PARAMETER,
    "required": False,
    "description": "The pass to redeem: `id=<passId>`, or an external identifier such as "
    '`id.crm=C-1` (all given must match); or send `{"barcode": …}` instead.',
}


# Not under /passes/: a fixed segment there would also match /passes/{passId} (GET, PATCH).
@blp.route("/redemptions")
class RedemptionByLookup(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            404: "Unknown tenant, or no pass matches.",
            409: "Several passes match (`errors` names `id` or `barcode`). " + _CONFLICT_DOC,
        },
    )
    @requires_scope(PASS_REDEEM)
    @blp.arguments(RedeemLookupSchema)
    @blp.doc(parameters=[_REDEEM_LOOKUP])
    @blp.response(202, StatusAcceptedSchema, headers=ACCEPTED_HEADERS)
    def post(self, body: dict[str, Any], tenantId: str) -> Any:
        """Redeem the one pass an external identifier (`id.<system>.<key>=value`) or a
        scanned barcode message names: 404 when none matches, 409 when several do."""
        db, tenant_id = services.database(), current_tenant().id
        barcode = body.get("barcode")
        if barcode is not None and request.args:
            raise ApiError(
                422,
                "The request is invalid.",
                errors=[
                    {"field": "barcode", "reason": "give a barcode or id… parameters, not both"}
                ],
            )
        if barcode is not None:
            matches = lifecycle_repo.find_by_barcode(db, tenant_id, barcode, limit=2)
        else:
            lookup = load_pass_lookup(request.args)
            matches = passes_repo.find_pass_ids(db, tenant_id, lookup, limit=2)
        field = "barcode" if barcode is not None else "id"
        if len(matches) > 1:
            raise ApiError(
                409,
                "Several passes match; name one by its id or a unique identifier.",
                errors=[{"field": field, "reason": "more than one pass matches"}],
            )
        document = passes_repo.find_pass(db, tenant_id, matches[0]) if matches else None
        if document is None:
            raise ApiError(404, "No pass matches.", errors=[{"field": field, "reason": "no match"}])
        return _redeem(document)


@blp.route("/passes/<passId>/balance")
class PassBalance(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={404: "Unknown tenant or pass.", 409: _CONFLICT_DOC},
    )
    @requires_scope(PASS_WRITE)
    @blp.arguments(BalanceChangeSchema)
    @blp.response(200, BalanceAnswerSchema)
    def post(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Add a signed delta to the balance passwire keeps for an active pass, atomically;
        a repeated `reference` changes nothing. Answers the new balance; a worker re-renders
        the pass (its changeMessage tells the holder) and pushes its devices."""
        document = find_tenant_pass(passId)
        tenant = current_tenant()
        pass_type = tenant.pass_types.get(str(document["passType"]))
        delta, reference = body["delta"], body.get("reference")
        try:
            if pass_type is None or pass_type.balance is None:
                raise balances.no_balance(str(document["passType"]))
            balances.check_currency(pass_type.balance, body.get("currency"))
            balance = balances.apply_delta(
                services.database(),
                tenant.id,
                passId,
                pass_type.balance,
                delta=delta,
                reference=reference,
                now=utcnow(),
            )
        except Refused as exc:
            raise _refused(exc) from exc
        except Invalid as exc:
            raise _invalid(exc) from exc
        except PassGone as exc:
            raise _pass_gone() from exc
        answer: dict[str, Any] = {
            "passId": passId,
            "balance": balance.as_json(),
            "applied": balance.applied,
        }
        if balance.applied:

            def undo() -> bool:
                db = services.database()
                return balances.undo(db, tenant.id, passId, delta=delta, reference=reference)

            answer["correlationId"], _ = refresh(passId, BALANCE_KIND, undo)
        return answer
