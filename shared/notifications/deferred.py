"""Alerts held back by quiet hours: stored in MongoDB by the batch, sent when due by a beat job.

A deferred pass got its data update at once; its message waits. When due, the sender decides
again (consent may have been withdrawn, the budget may be spent meanwhile; the window is over),
records the message on the Apple pass (a new value: one alert) and pushes its devices, and
adds it to the Google object (TEXT_AND_NOTIFY or TEXT). Each alert is claimed with a lease, so
a worker or beat restart loses none, and sent once: the Apple pass records a message once per
id, and each wallet's step is marked done before the next.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.apple.issuing import AppleRenderFailed
from shared.apple.push import PushCounts, push_to_devices
from shared.google.delivery import GoogleCounts, google_message
from shared.infra import metrics
from shared.notifications import budgets
from shared.notifications.campaign import CampaignNotifications
from shared.notifications.counting import NotificationCounts
from shared.notifications.policy import Decision, Notice, decide, has_apple, has_google
from shared.passes import messages
from shared.passes.apple_versions import new_apple_version
from shared.passes.google_delivery import deliver_to_google
from shared.passes.jobs import ExternalDataFailed, JobContext, UnknownPassType
from shared.repositories import deferred_alerts as repo
from shared.repositories import passes as passes_repo

log = logging.getLogger(__name__)

LEASE_S = 300.0  # a sender that dies leaves its alert to another after this
MAX_PER_RUN = 500
_WRITE_ROUNDS = 5


def defer(context: JobContext, operation: Mapping[str, Any], notes: CampaignNotifications) -> None:
    """Store the batch's held-back alerts (before the batch is counted: durable first)."""
    held = notes.held()
    if not held:
        return
    message = operation["message"]
    documents = [
        {
            "_id": repo.alert_id(operation["_id"], document["_id"]),
            "tenant": operation["tenant"],
            "passId": document["_id"],
            "correlationId": operation["_id"],
            "message": {
                "id": operation["_id"],
                "content": message["content"],
                "localizedContent": dict(message.get("localizedContent") or {}),
                "kind": notes.notice.kind,
            },
            "dueAt": decision.deferred_until,
            "status": repo.PENDING,
            "leaseUntil": notes.now,
            "attempts": 0,
            "createdAt": notes.now,
        }
        for document, decision in held
    ]
    repo.defer(context.db, documents)
    first = min(d["dueAt"] for d in documents)
    repo.note_earliest(context.db, operation["_id"], first)


def send_due(context: JobContext, *, now: datetime, limit: int = MAX_PER_RUN) -> int:
    """Send the alerts due by `now`; how many were sent."""
    sent = 0
    for _ in range(limit):
        alert = repo.claim_due(context.db, now=now, lease_s=LEASE_S)
        if alert is None:
            break
        try:
            sent += send_one(context, alert, now=now)
        except (AppleRenderFailed, ExternalDataFailed, UnknownPassType) as exc:
            # Left pending: the lease runs out and a later run tries again.
            log.warning("deferred alert %s not sent yet: %s", alert["_id"], exc)
    return sent


def send_one(context: JobContext, alert: Mapping[str, Any], *, now: datetime) -> int:
    """Deliver one deferred alert and count it on its campaign; 1 when this call sent it."""
    db, tenant_id, pass_id = context.db, alert["tenant"], alert["passId"]
    counts = NotificationCounts()
    pushed, google = PushCounts(), GoogleCounts()
    document = passes_repo.find_pass(db, tenant_id, pass_id)
    tenant = context.tenants.get(tenant_id)
    if document is not None and tenant is not None:
        made = _decide(context, document, alert, tenant.notifications, now)
        counts.add(document, made)
        if not alert.get("appleDone") and has_apple(document):
            pushed = _to_apple(context, document, alert, made, now)
            repo.mark_step(db, alert["_id"], "appleDone")
        if not alert.get("googleDone") and has_google(document):
            google = _to_google(context, document, alert, made, tenant.name)
            repo.mark_step(db, alert["_id"], "googleDone")
    if not repo.mark_sent(db, alert, now=now):
        return 0
    delivered = {**pushed.as_counters(), **google.as_counters(), **counts.as_counters()}
    delivered["deferred"] = -1
    metrics.count_notifications(tenant_id, delivered)
    repo.note_on_operation(db, alert["correlationId"], counts=delivered, now=now)
    return 1


def _decide(
    context: JobContext,
    document: Mapping[str, Any],
    alert: Mapping[str, Any],
    policy: Any,
    now: datetime,
) -> Decision:
    """Decide again now the window is over (no quiet hours): consent and budget still hold."""
    notice = Notice(kind=alert["message"]["kind"], quiet_hours=None, own_quiet_hours=True)
    made = decide(
        document,
        notice,
        policy,
        now,
        budgets.peek(context.redis, document, now, alert["message"]["id"]),
    )
    return budgets.consume(
        context.redis, document, made, policy, message_id=alert["message"]["id"], now=now
    )


def _to_apple(
    context: JobContext,
    document: dict[str, Any],
    alert: Mapping[str, Any],
    made: Decision,
    now: datetime,
) -> PushCounts:
    """Record the message on the pass (alerting or not), store the new version, push."""
    message_id = alert["message"]["id"]
    patch = {messages.PATCH_KEY: alert["message"]}
    for _ in range(_WRITE_ROUNDS):
        if messages.recorded(document, message_id) and not document.get("applePushPending"):
            return PushCounts()  # recorded and pushed by an earlier attempt
        if not messages.recorded(document, message_id):
            try:
                tenant, pass_type = context.pass_type(document["tenant"], document["passType"])
            except UnknownPassType:
                return PushCounts()
            patched = messages.with_message(
                dict(document),
                patch,
                has_apple=pass_type.apple is not None,
                now=now,
                alert=made.alert_apple,
            )
            external = context.external_data(tenant, pass_type, patched)
            apple = new_apple_version(
                context, tenant, pass_type, patched, now=now, external=external
            )
            changes: dict[str, Any] = {**messages.changes(document, patched), "updatedAt": now}
            if apple is not None:
                changes.update(apple=apple, applePushPending=True)
            if not passes_repo.update_pass(
                context.db,
                tenant.id,
                document["_id"],
                expected_version=document["version"],
                changes=changes,
            ):
                reread = passes_repo.find_pass(context.db, document["tenant"], document["_id"])
                if reread is None:
                    return PushCounts()
                document = reread
                continue
            document = {**patched, **changes, "version": document["version"] + 1}
        return _push(context, document, message_id)
    log.warning("deferred alert %s: the pass kept changing", alert["_id"])
    return PushCounts()


def _push(context: JobContext, document: Mapping[str, Any], message_id: str) -> PushCounts:
    apple = document["apple"]
    tenant, _ = context.pass_type(document["tenant"], document["passType"])
    counts = push_to_devices(
        context.db,
        context.push_sender(
            tenant.apple_identities.get(apple["passTypeIdentifier"]), context.settings
        ),
        tenant_id=tenant.id,
        pass_type_identifier=apple["passTypeIdentifier"],
        pass_ids=[document["_id"]],
        alerting=[document["_id"]] if messages.alerted_by(document, message_id) else [],
    )
    passes_repo.clear_apple_push_pending(
        context.db, document["tenant"], document["_id"], apple["updateTag"]
    )
    return counts


def _to_google(
    context: JobContext,
    document: Mapping[str, Any],
    alert: Mapping[str, Any],
    made: Decision,
    header: str,
) -> GoogleCounts:
    message = alert["message"]
    body = google_message(
        message["id"], header, message["content"], message.get("localizedContent") or {}
    )
    return deliver_to_google(context, document, message=body, notify=made.alert_google)
