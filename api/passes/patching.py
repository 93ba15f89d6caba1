"""PATCH of one pass: checks a pass type change, then queues the update (202) or, with
`options.bypassQueue`, runs it in the request and answers 200 with the result."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from api import services
from api.auth import current_tenant
from api.errors import ApiError
from api.notifications.consent import record_consent
from api.operations.schemas import OperationSchema
from api.passes.jobs import accept
from api.passes.schemas import PassSchema
from shared import operations
from shared.infra.ids import new_correlation_id
from shared.infra.logs import correlation_context
from shared.jobs import UPDATE_PASS
from shared.notifications import consent
from shared.passes.documents import public_view
from shared.passes.jobs import JobContext
from shared.passes.updating import run_update
from shared.repositories import operations as operations_repo
from shared.repositories import passes as passes_repo
from shared.repositories import registrations
from shared.tenancy.tenants import PassType

_OPERATION = OperationSchema()
_PASS = PassSchema()


def patch_pass(document: dict[str, Any], body: dict[str, Any]) -> Any:
    patch = {key: value for key, value in body.items() if key not in ("options", "consent")}
    if "consent" in body:
        record_consent(document["_id"], body["consent"], via=consent.VIA_PATCH)
    if patch.get("passType") == document["passType"]:
        del patch["passType"]
    if "passType" in patch:
        _check_pass_type_change(document, patch["passType"])
    correlation_id = new_correlation_id()
    intent = {"passId": document["_id"], "patch": patch}
    with correlation_context(correlation_id):
        if not body.get("options", {}).get("bypassQueue"):
            return accept(
                current_tenant().id,
                "update",
                task_name=UPDATE_PASS,
                correlation_id=correlation_id,
                pass_id=document["_id"],
                intent=intent,
            )
        return _run_now(document["_id"], correlation_id, intent)


def _run_now(pass_id: str, correlation_id: str, intent: dict[str, Any]) -> Any:
    """The update job's own function, in this request (the caller waits on one pass)."""
    db = services.database()
    tenant = current_tenant()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id=tenant.id,
            kind="update",
            total=1,
            intent=intent,
        ),
    )
    context = JobContext(
        db=db,
        tenants=services.tenants(),
        settings=services.settings(),
        events_queue=services.jobs(),
    )
    operation = run_update(context, correlation_id) or operations_repo.load_operation(
        db, correlation_id
    )
    stored = passes_repo.find_pass(db, tenant.id, pass_id)
    # A Response of its own: the route's main (202) schema would drop these fields.
    result = {
        "correlationId": correlation_id,
        "passId": pass_id,
        "operation": _OPERATION.dump(operation),
        "pass": _PASS.dump(public_view(stored)) if stored else None,
    }
    return jsonify(result), 200


def _check_pass_type_change(document: dict[str, Any], new_type_id: str) -> None:
    """A pass may move to another pass type unless a wallet already holds it under an
    identity the new type does not share: Apple keys registrations and pushes by
    passTypeIdentifier, and Google does not move an object to another class."""
    new_type = current_tenant().pass_types.get(new_type_id)
    if new_type is None:
        raise ApiError(
            422,
            "Unknown pass type.",
            errors=[{"field": "passType", "reason": f"no pass type '{new_type_id}'"}],
        )
    problem = _wallet_conflict(document, new_type)
    if problem is not None:
        raise ApiError(
            409,
            "The pass cannot move to that pass type.",
            errors=[{"field": "passType", "reason": problem}],
        )


def _wallet_conflict(document: dict[str, Any], new_type: PassType) -> str | None:
    apple = document.get("apple")
    if apple and apple["passTypeIdentifier"] != new_type.apple_pass_type_identifier:
        held = registrations.count_for_pass(
            services.database(), document["tenant"], document["_id"]
        )
        if held:
            return "Apple Wallet holds it under another passTypeIdentifier"
    google = document.get("google")
    new_class = new_type.google.class_id if new_type.google else None
    if google and google.get("syncedHash") and google["classId"] != new_class:
        return "Google Wallet holds it in another class"
    return None
