"""Accepting `DELETE /api/{tenantId}/passes/{passId}`: the job voids the pass in both wallets,
then deletes it, or with `erase=true` erases every trace of it (shared/lifecycle/deletion.py).

A pass already deleted is unknown (404), except to `erase=true` while its plain deletion left
traces (registrations, install clicks...): erasing them is still owed to its holder.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields

from api import services
from api.auth import current_tenant
from api.errors import ApiError
from api.passes.jobs import accept
from shared.infra.ids import PASS_ID_PATTERN, new_correlation_id
from shared.infra.logs import correlation_context
from shared.jobs import DELETE_PASS
from shared.lifecycle import DELETE_KIND, ERASE_KIND
from shared.lifecycle.deletion import deletion_intent
from shared.repositories import passes as passes_repo
from shared.repositories import tombstones


class DeletePassQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    erase = fields.Boolean(
        load_default=False,
        metadata={
            "description": "`true` (GDPR erasure): also remove the pass's device "
            "registrations, install history, webhook deliveries and every identifier and "
            "metadata value, leaving an anonymous tombstone; the operation's kind is `erase`."
        },
    )


def _deletable(tenant_id: str, pass_id: str, *, erase: bool) -> bool:
    if not PASS_ID_PATTERN.fullmatch(pass_id):
        return False
    db = services.database()
    if passes_repo.find_pass(db, tenant_id, pass_id) is not None:
        return True
    return erase and tombstones.find_deletion(db, tenant_id, pass_id) is not None


def accept_deletion(pass_id: str, *, erase: bool) -> Any:
    """202 with the job's correlationId, or 404 for a pass there is nothing left of."""
    tenant_id = current_tenant().id
    if not _deletable(tenant_id, pass_id, erase=erase):
        raise ApiError(404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}])
    correlation_id = new_correlation_id()
    with correlation_context(correlation_id):
        return accept(
            tenant_id,
            ERASE_KIND if erase else DELETE_KIND,
            task_name=DELETE_PASS,
            correlation_id=correlation_id,
            pass_id=pass_id,
            intent=deletion_intent(pass_id, erase=erase),
        )
