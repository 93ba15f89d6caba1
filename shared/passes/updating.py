"""The `update` job: merge a patch into a pass, re-render it, and tell its devices.

An update whose rendered Apple pass is unchanged counts `unchanged` and pushes nothing. A new
version is stored with `applePushPending` in the same write, so a worker that dies before
pushing leaves the push to the job's next delivery instead of losing it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared import operations
from shared.apple.issuing import AppleRenderFailed
from shared.apple.push import PushCounts, push_to_devices
from shared.google.delivery import GoogleCounts
from shared.infra import metrics
from shared.infra.clock import utcnow
from shared.live.publish import live_publish_lifecycle
from shared.passes.apple_versions import new_apple_version
from shared.passes.google_delivery import deliver_to_google
from shared.passes.google_versions import (
    GoogleRenderFailed,
    google_owed_to_holder,
    new_google_version,
)
from shared.passes.jobs import ExternalDataFailed, JobContext, UnknownPassType
from shared.passes.merge_patch import merge_patch
from shared.repositories import passes as passes_repo
from shared.webhooks.config import PASS_UPDATED

log = logging.getLogger(__name__)

UPDATE_BATCH = "update"
PATCHABLE = ("identifiers", "metadata", "additionalData")
_MAX_CONFLICTS = 5
# Set with each new rendering in the same write, cleared once the wallet has it: what the
# resend sweep (shared/passes/resending.py) looks for.
_OWED_FLAG = {"apple": "applePushPending", "google": "googlePending"}


def run_update(context: JobContext, correlation_id: str) -> dict[str, Any] | None:
    """Apply the operation's patch to its pass. Safe to run more than once."""
    db = context.db
    operation, active = context.begin(correlation_id, "update")
    if operation is None or not active:
        return operation
    tenant_id, pass_id = operation["tenant"], operation["intent"]["passId"]
    for _ in range(_MAX_CONFLICTS):
        document = passes_repo.find_pass(db, tenant_id, pass_id)
        if document is None:
            return _failed(context, correlation_id, pass_id, "the pass no longer exists")
        if operation["status"] == operations.CANCELLING:
            return context.finished(
                operations.record_results(db, correlation_id, UPDATE_BATCH, cancelled=1)
            )
        try:
            outcome = apply_patch(context, document, operation["intent"]["patch"])
        except (AppleRenderFailed, GoogleRenderFailed, UnknownPassType, ExternalDataFailed) as exc:
            return _failed(context, correlation_id, pass_id, str(exc))
        if outcome is not None:
            stored, changed = outcome
            result = _deliver(context, correlation_id, stored, changed=changed)
            live_publish_lifecycle(context.settings, operation["kind"], stored)  # redeem, status
            return result
    if not operation["intent"]["patch"]:
        # A refresh (status, redeem, balance, expire, resend) has nothing of its own to apply,
        # and every writer that beat it bumped the version with a job of its own queued or
        # running, which renders and delivers what it wrote: superseded, not failed.
        log.info("refresh of pass %s superseded by newer changes", pass_id)
        return context.finished(
            operations.record_results(db, correlation_id, UPDATE_BATCH, unchanged=1)
        )
    return _failed(context, correlation_id, pass_id, "the pass kept changing; try again")


def apply_patch(
    context: JobContext, document: dict[str, Any], patch: dict[str, Any]
) -> tuple[dict[str, Any], bool] | None:
    """Store the patched pass. Returns it as stored and whether a new Apple version was made,
    or None when another writer changed the pass first."""
    patched = dict(document)
    patched["passType"] = patch.get("passType") or document["passType"]
    tenant, pass_type = context.pass_type(document["tenant"], patched["passType"])
    now = utcnow()
    for field in PATCHABLE:
        if field in patch:
            patched[field] = merge_patch(document.get(field) or {}, patch[field])
    # A provider failing raises ExternalDataFailed before anything is written.
    external = context.external_data(tenant, pass_type, patched)
    apple = new_apple_version(context, tenant, pass_type, patched, now=now, external=external)
    google = new_google_version(pass_type, patched, now=now, external=external)
    changes: dict[str, Any] = {field: patched[field] for field in (*PATCHABLE, "passType")}
    if apple is not None:
        changes.update(apple=apple, applePushPending=True)
    if google is not None:
        changes.update(google=google, googlePending=True)
    # Moved to a pass type without a wallet's template: that wallet's rendering goes.
    for wallet, template in (("apple", pass_type.apple), ("google", pass_type.google)):
        if template is None and document.get(wallet):
            changes[wallet] = None
            changes[_OWED_FLAG[wallet]] = False
    if (
        set(changes) <= {*PATCHABLE, "passType"}
        and apple is None
        and google is None
        and all(patched[field] == document.get(field) for field in (*PATCHABLE, "passType"))
    ):
        return document, False  # nothing to write (deliveries may still be owed, see _deliver)
    changes["updatedAt"] = now
    if not passes_repo.update_pass(
        context.db,
        tenant.id,
        document["_id"],
        expected_version=document["version"],
        changes=changes,
    ):
        return None
    return {**patched, **changes}, apple is not None or google is not None


@dataclass(frozen=True)
class Delivered:
    """What delivering a stored pass to its wallets did."""

    owed: bool  # something had not reached a wallet yet: an Apple push or Google's object
    apple: PushCounts
    google: GoogleCounts

    @property
    def counters(self) -> dict[str, int]:
        return {**self.apple.as_counters(), **self.google.as_counters()}


def deliver_pass(
    context: JobContext, stored: dict[str, Any], *, synced: list[tuple[str, str]] | None = None
) -> Delivered:
    """Update Google's object and push the pass's devices, each only if owed. The caller
    clears `applePushPending` once it has counted the push, and stores what Google
    acknowledged (`synced`, see deliver_to_google) likewise (see _deliver)."""
    counts = PushCounts()
    google_owed = google_owed_to_holder(stored)  # without a holder it waits for a Save click
    google = deliver_to_google(context, stored, synced=synced)
    pending = bool(stored.get("applePushPending"))
    if pending:
        apple = stored["apple"]
        tenant, _ = context.pass_type(stored["tenant"], stored["passType"])
        identity = tenant.apple_identities.get(apple["passTypeIdentifier"])
        counts = push_to_devices(
            context.db,
            context.push_sender(identity, context.settings),
            tenant_id=tenant.id,
            pass_type_identifier=apple["passTypeIdentifier"],
            pass_ids=[stored["_id"]],
        )
    return Delivered(pending or google_owed, counts, google)


def _deliver(
    context: JobContext, correlation_id: str, stored: dict[str, Any], *, changed: bool
) -> dict[str, Any] | None:
    """Push the pass's devices and update Google's object if owed, then count the item."""
    synced: list[tuple[str, str]] = []
    delivered = deliver_pass(context, stored, synced=synced)
    metrics.count_notifications(stored["tenant"], delivered.counters)
    pending = bool(stored.get("applePushPending"))
    changed = changed or delivered.owed
    if changed:
        data = {"passId": stored["_id"], "passType": stored["passType"]}
        context.emit(stored["tenant"], PASS_UPDATED, data, correlation_id=correlation_id)
    result = context.finished(
        operations.record_results(
            context.db,
            correlation_id,
            UPDATE_BATCH,
            succeeded=int(changed),
            unchanged=int(not changed),
            delivery=delivered.counters,
        )
    )
    if pending:
        # Cleared after counting: a crash in between pushes again (harmless), never loses one.
        passes_repo.clear_apple_push_pending(
            context.db, stored["tenant"], stored["_id"], stored["apple"]["updateTag"]
        )
    passes_repo.mark_google_synced(context.db, stored["tenant"], synced)  # likewise
    return result


def _failed(
    context: JobContext, correlation_id: str, pass_id: str, reason: str
) -> dict[str, Any] | None:
    return context.item_failed(correlation_id, UPDATE_BATCH, pass_id, reason)
