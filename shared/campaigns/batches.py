"""One campaign batch: apply the operation's merge patch to an explicit list of passes.

Per batch: one bulk read, render and sign only the passes whose rendered pass.json changed,
one bulk write (version-guarded; passes changed concurrently are re-read and retried, then
counted failed), one APNs fan-out per pass type certificate, one record of the results (the
batch id makes it count once under at-least-once delivery), then the push flags are cleared.
Cancellation is checked between passes, not only between batches.

While it runs, a batch holds a lease in MongoDB, renewed as it goes: the campaign watchdog
(shared/campaigns/recovery.py) re-sends only batches neither recorded nor leased.

Writes and pushes stay paired: a pass this campaign already wrote but whose push is still owed
(`applePushPending`: the job that wrote it died before pushing) is pushed by the batch that
finds it, and counted `succeeded` there, even when the campaign is being cancelled: a
cancellation stops only the passes not written yet.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import operations
from shared.apple.issuing import AppleRenderFailed
from shared.apple.push import PushCounts, push_to_devices
from shared.campaigns import PREVIEW, class_messages, pacing, pausing
from shared.google.delivery import GoogleCounts, google_message
from shared.infra import metrics
from shared.infra.clock import utcnow
from shared.notifications import campaign as notifications
from shared.notifications import deferred
from shared.passes import messages
from shared.passes.apple_versions import assign_update_tags, new_apple_version
from shared.passes.google_delivery import deliver_to_google
from shared.passes.google_versions import GoogleRenderFailed, new_google_version
from shared.passes.jobs import JobContext, UnknownPassType
from shared.passes.merge_patch import merge_patch
from shared.passes.updating import PATCHABLE
from shared.providers.fetching import ExternalResult
from shared.repositories import campaigns as repo
from shared.repositories import passes as passes_repo
from shared.tenancy.tenants import PassType, Tenant

log = logging.getLogger(__name__)

CHECK_EVERY_PASSES = 50
CHECK_EVERY_SECONDS = 0.5
WRITE_ROUNDS = 3  # a pass that keeps changing under us is counted failed after these
GONE = "the pass no longer exists"
KEPT_CHANGING = "the pass kept changing during the campaign; try again"
# The stored signed parts of a pass's Apple version: a batch replaces them, never reads them
# (nor decodes them: the bulk of a pass's bytes).
UNREAD = ("apple.passJson", "apple.manifest", "apple.signature")


class CancelWatch:
    """Tells whether to stop before the next pass, reading the operation's status at most
    every `every` passes or `interval` seconds (whichever comes first)."""

    def __init__(
        self,
        read_status: Callable[[], str | None],
        *,
        every: int = CHECK_EVERY_PASSES,
        interval: float = CHECK_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        status: str = operations.RUNNING,  # as just read: a batch starting late stops at once
    ) -> None:
        self._read, self._every, self._interval, self._clock = read_status, every, interval, clock
        self._since, self._last, self._stop = 0, clock(), status != operations.RUNNING
        self.status = status  # as last read: `paused` parks the rest, anything else stops it

    def stop(self) -> bool:
        if not self._stop and (
            self._since >= self._every or self._clock() - self._last >= self._interval
        ):
            self.status = self._read() or operations.FAILED
            self._stop = self.status != operations.RUNNING
            self._since, self._last = 0, self._clock()
        self._since += 1
        return self._stop


class BatchLease:
    """This job holds the batch for `length` seconds, renewed (at most every quarter of it)
    whenever `renew` is called, so a running batch is never taken for a lost one, and another
    copy of its message (a duplicate send, a re-send) does not run it meanwhile."""

    def __init__(
        self,
        take: Callable[[datetime], bool],
        *,
        length: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._take, self._length, self._clock = take, length, clock
        self._renewed_at = clock()

    def take(self) -> bool:
        self._renewed_at = self._clock()
        return self._take(utcnow() + timedelta(seconds=self._length))

    def renew(self) -> None:
        if self._clock() - self._renewed_at >= self._length / 4:
            self.take()  # lost meanwhile (we were too slow): carry on, at least once


def _lease(context: JobContext, correlation_id: str, batch_id: str, owner: str) -> BatchLease:
    def take(until: datetime) -> bool:
        return repo.lease_batch(
            context.db, correlation_id, batch_id, owner=owner, until=until, now=utcnow()
        )

    return BatchLease(take, length=float(context.settings.campaign_stall_s))


@dataclass
class _Tally:
    succeeded: int = 0
    unchanged: int = 0
    cancelled: int = 0
    errors: list[operations.ItemError] = field(default_factory=list)
    to_push: dict[str, tuple[str, int]] = field(default_factory=dict)  # id → (topic, tag)
    on_google: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # id → as stored
    message_id: str | None = None  # the campaign's message, if it has one
    alerting: set[str] = field(default_factory=set)  # pushed with that message as an alert

    def fail(self, pass_id: str, reason: str) -> None:
        self.errors.append(operations.ItemError(pass_id, reason))

    def done(self, document: Mapping[str, Any], *, written: bool) -> None:
        """Count a pass whose new state is stored; a push is owed when its flag is set."""
        if document.get("applePushPending") and document.get("apple"):
            apple = document["apple"]
            self.to_push[document["_id"]] = (apple["passTypeIdentifier"], apple["updateTag"])
            if messages.alerted_by(document, self.message_id):
                self.alerting.add(document["_id"])
        if document.get("google"):
            self.on_google[document["_id"]] = document
        if written or document["_id"] in self.to_push:
            self.succeeded += 1
        else:
            self.unchanged += 1


def _prepare(
    context: JobContext,
    document: Mapping[str, Any],
    patch: Mapping[str, Any],
    now: datetime,
    external: Mapping[str, Any],
    *,
    notes: notifications.CampaignNotifications | None = None,
) -> dict[str, Any] | None:
    """The changes to store for `document`, or None when nothing changed. Raises
    AppleRenderFailed / GoogleRenderFailed / UnknownPassType."""
    tenant, pass_type, patched = patched_pass(context, document, patch, now, notes=notes)
    apple = new_apple_version(
        context, tenant, pass_type, patched, now=now, external=external, tag_at_write=True
    )
    google = new_google_version(pass_type, patched, now=now, external=external)
    if apple is None and google is None and not data_changed(document, patched):
        return None
    changes: dict[str, Any] = {name: patched.get(name) or {} for name in PATCHABLE}
    changes.update(messages.changes(document, patched))
    if apple is not None:
        changes.update(apple=apple, applePushPending=True)
    if google is not None:
        changes.update(google=google, googlePending=True)
    changes["updatedAt"] = now
    return changes


def patched_pass(
    context: JobContext,
    document: Mapping[str, Any],
    patch: Mapping[str, Any],
    now: datetime,
    *,
    notes: notifications.CampaignNotifications | None = None,
) -> tuple[Tenant, PassType, dict[str, Any]]:
    """`document` with the campaign's patch and message applied (what is rendered); shared
    with the preview (shared/campaigns/preview.py). Raises UnknownPassType."""
    tenant, pass_type = context.pass_type(document["tenant"], document["passType"])
    patched = dict(document)
    for name in PATCHABLE:
        if name in patch:
            patched[name] = merge_patch(document.get(name) or {}, patch[name])
    # Whether the message alerts, goes silent or waits: shared/notifications/policy.py.
    alert = notifications.apple_alert(notes, document)
    has_apple = pass_type.apple is not None
    patched = messages.with_message(patched, patch, has_apple=has_apple, now=now, alert=alert)
    return tenant, pass_type, patched


def data_changed(document: Mapping[str, Any], patched: Mapping[str, Any]) -> bool:
    return any(patched.get(n) != document.get(n) for n in PATCHABLE)


_Writes = dict[str, tuple[dict[str, Any], dict[str, Any]]]  # id → (as read, changes)


def _prepare_one(
    context: JobContext,
    document: dict[str, Any],
    patch: Mapping[str, Any],
    now: datetime,
    *,
    external: Mapping[str, ExternalResult],
    tally: _Tally,
    writes: _Writes,
    notes: notifications.CampaignNotifications | None = None,
) -> None:
    """Render one pass: a render failure, or its external data failing, fails that pass only."""
    fetched = external.get(document["_id"], ExternalResult())
    if fetched.error is not None:
        tally.fail(document["_id"], fetched.error)
        return
    try:
        changes = _prepare(context, document, patch, now, fetched.data, notes=notes)
    except (AppleRenderFailed, GoogleRenderFailed, UnknownPassType) as exc:
        tally.fail(document["_id"], str(exc))
        return
    if changes is None:
        tally.done(document, written=False)
    else:
        writes[document["_id"]] = (document, changes)


def _write(
    context: JobContext, tenant_id: str, writes: _Writes, now: datetime, tally: _Tally
) -> list[str]:
    """Store the prepared passes in one bulk write; returns the ids the version guard refused."""
    assign_update_tags(context.db, [c["apple"] for _, c in writes.values() if c.get("apple")])
    requests = [repo.PassWrite(i, d["version"], c) for i, (d, c) in writes.items()]
    written = repo.write_passes(context.db, tenant_id, requests, now=now)
    for pass_id in written:
        document, changes = writes[pass_id]
        tally.done({**document, **changes}, written=True)
    return [pass_id for pass_id in writes if pass_id not in written]


def _retry(
    context: JobContext,
    tenant_id: str,
    refused: list[str],
    patch: Mapping[str, Any],
    *,
    external: Mapping[str, ExternalResult],
    tally: _Tally,
    notes: notifications.CampaignNotifications | None = None,
) -> None:
    """Passes another writer changed meanwhile: re-read, re-apply, a few rounds at most."""
    for _ in range(WRITE_ROUNDS - 1):
        if not refused:
            return
        reloaded = repo.load_passes(context.db, tenant_id, refused, without=UNREAD)
        now = utcnow()
        writes: _Writes = {}
        for pass_id in refused:
            if pass_id in reloaded:
                _prepare_one(
                    context,
                    reloaded[pass_id],
                    patch,
                    now,
                    external=external,
                    tally=tally,
                    writes=writes,
                    notes=notes,
                )
            else:
                tally.fail(pass_id, GONE)
        refused = _write(context, tenant_id, writes, now, tally)
    for pass_id in refused:
        tally.fail(pass_id, KEPT_CHANGING)


def _push(context: JobContext, tenant_id: str, tally: _Tally, lease: BatchLease) -> PushCounts:
    """One fan-out per pass type certificate (a batch usually has one)."""
    by_topic: dict[str, list[str]] = {}
    for pass_id, (topic, _) in tally.to_push.items():
        by_topic.setdefault(topic, []).append(pass_id)
    tenant = context.tenants.get(tenant_id)
    pushed = failed = unregistered = notified = 0
    for topic, pass_ids in by_topic.items():
        if tenant is None:
            break
        lease.renew()
        counts = push_to_devices(
            context.db,
            context.push_sender(tenant.apple_identities.get(topic), context.settings),
            tenant_id=tenant_id,
            pass_type_identifier=topic,
            pass_ids=pass_ids,
            alerting=tally.alerting,
        )
        pushed, failed = pushed + counts.pushed, failed + counts.failed
        unregistered, notified = unregistered + counts.unregistered, notified + counts.notified
    return PushCounts(pushed=pushed, failed=failed, unregistered=unregistered, notified=notified)


def batch_external_data(
    context: JobContext,
    tenant_id: str,
    documents: Mapping[str, dict[str, Any]],
    patch: Mapping[str, Any],
) -> dict[str, ExternalResult]:
    """The batch's external data, fetched once for every pass (addressed by the identifiers
    the patch leaves them with); rendered, never stored."""
    tenant = context.tenants.get(tenant_id)
    if tenant is None:
        return {}
    views = [
        {
            **document,
            "identifiers": merge_patch(document.get("identifiers") or {}, patch["identifiers"]),
        }
        if "identifiers" in patch
        else document
        for document in documents.values()
    ]
    return context.external_data_for_batch(tenant, views)


def _to_google(
    context: JobContext,
    operation: Mapping[str, Any],
    tally: _Tally,
    synced: list[tuple[str, str]],
    lease: BatchLease,
    *,
    notes: notifications.CampaignNotifications | None = None,
) -> GoogleCounts:
    """PATCH the objects that changed and add the campaign's message, one pass at a time:
    Google takes one object per call, paced by the issuer's shared limiter. What Google
    acknowledged goes into `synced`, stored once the batch is counted."""
    counts = GoogleCounts()
    message = operation.get("message")
    tenant = context.tenants.get(operation["tenant"])
    body = None
    if message is not None and tenant is not None and not class_messages.by_class(operation):
        body = google_message(
            operation["_id"], tenant.name, message["content"], message["localizedContent"]
        )
    for document in tally.on_google.values():
        lease.renew()
        send, notify = (body is not None, True) if notes is None else notes.google(document)
        counts.add(
            deliver_to_google(
                context, document, message=body if send else None, notify=notify, synced=synced
            )
        )
    return counts


def _written_by_us(document: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Holds the patched values and owes its push: written by an earlier run of this batch."""
    if not document.get("applePushPending"):
        return False
    message = messages.message_id(patch)
    if message is not None and not any(
        kept.get("id") == message for kept in document.get(messages.FIELD) or []
    ):
        return False  # this campaign's message is not on it: not our write
    return all(
        merge_patch(document.get(name) or {}, patch[name]) == (document.get(name) or {})
        for name in PATCHABLE
        if name in patch
    )


def _stopped(
    pass_ids: Sequence[str],
    documents: Mapping[str, dict[str, Any]],
    patch: Mapping[str, Any],
    tally: _Tally,
) -> None:
    """Cancelled before these passes: those already written still get their push (and count
    `succeeded`); the cancellation stopped the others."""
    for pass_id in pass_ids:
        document = documents.get(pass_id)
        if document is not None and _written_by_us(document, patch):
            tally.done(document, written=False)
        else:
            tally.cancelled += 1


def run_batch(  # noqa: PLR0912, PLR0915 - the batch's walk, in order
    context: JobContext,
    correlation_id: str,
    batch_id: str,
    pass_ids: Sequence[str],
    enqueue: pausing.EnqueueBatch | None = None,
    *,
    owner: str | None = None,
) -> dict[str, Any] | None:
    """Apply the campaign's patch to `pass_ids` and record the batch. Safe to run twice.
    `enqueue` sends a batch of this campaign (what a pause parked, when resumed meanwhile).
    `owner`: who runs it (the task id, the same when a message is delivered again); a copy
    with another owner does nothing while this one holds the batch."""
    db = context.db
    operation = repo.load_campaign(db, correlation_id)
    if operation is None or operation["status"] in operations.FINAL_STATUSES:
        return operation
    if operation["kind"] == PREVIEW:  # a dry run: the same walk, nothing written
        # No lease: a preview batch run twice, even at once, records its figures once.
        # Imported here: the preview reuses this module's steps, so it imports this module.
        from shared.campaigns.preview import run_preview_batch  # noqa: PLC0415

        return run_preview_batch(context, operation, batch_id, pass_ids)
    owner = owner or secrets.token_hex(8)
    lease = _lease(context, correlation_id, batch_id, owner)
    if not lease.take():
        log.info("%s is being run by another job: this copy does nothing", batch_id)
        return operation
    handled, outcome = _not_a_run(context, operation, batch_id, pass_ids, enqueue)
    if handled:
        return _let_go(db, correlation_id, batch_id, owner, outcome)
    tenant_id = operation["tenant"]
    patch = messages.campaign_patch(operation)  # the data patch, with the campaign's message
    watch = CancelWatch(
        lambda: repo.operation_status(db, correlation_id), status=operation["status"]
    )
    documents = repo.load_passes(db, tenant_id, pass_ids, without=UNREAD)
    external = batch_external_data(context, tenant_id, documents, patch)
    tally, now = _Tally(message_id=messages.message_id(patch)), utcnow()
    tenant = context.tenants.get(tenant_id)
    notes = (
        None
        if tenant is None
        else class_messages.per_pass(  # Apple's only when Google's message went to the class
            notifications.for_campaign(context.redis, tenant.notifications, operation, now),
            operation,
        )
    )
    if notes is not None:
        notes.read_budgets(documents.values())  # one round trip; spent per pass as decided
    writes: _Writes = {}
    pace = pacing.pace_for(context.redis, operation)  # the campaign's `throughput`, if any
    parked: pausing.Parked | None = None
    for index, pass_id in enumerate(pass_ids):
        lease.renew()
        if watch.stop():
            # Passes before this one are finished as usual; the rest are not written.
            if watch.status == operations.PAUSED:
                parked = pausing.park(batch_id, index, pass_ids)  # for the resume
            else:
                _stopped(pass_ids[index:], documents, patch, tally)
            break
        pace()
        document = documents.get(pass_id)
        if document is None:
            tally.fail(pass_id, GONE)
        else:
            _prepare_one(
                context,
                document,
                patch,
                now,
                external=external,
                tally=tally,
                writes=writes,
                notes=notes,
            )
    refused = _write(context, tenant_id, writes, now, tally)
    _retry(context, tenant_id, refused, patch, external=external, tally=tally, notes=notes)
    counts = _push(context, tenant_id, tally, lease)
    synced: list[tuple[str, str]] = []
    google = _to_google(context, operation, tally, synced, lease, notes=notes)
    notified = {} if notes is None else notes.counts.as_counters()
    delivery = {**counts.as_counters(), **google.as_counters(), **notified}
    if notes is not None:
        deferred.defer(context, operation, notes)  # stored before the batch is counted
    result = context.finished(
        operations.record_results(
            db,
            correlation_id,
            batch_id,
            succeeded=tally.succeeded,
            unchanged=tally.unchanged,
            failed=len(tally.errors),
            cancelled=tally.cancelled,
            delivery=delivery,
            errors=tuple(tally.errors),
            only_active=True,  # a late batch of a failed campaign moves no final counter
            also=parked.as_fields() if parked else None,
        )
    )
    metrics.count_campaign_batch(
        tenant_id,
        delivery,
        succeeded=tally.succeeded,
        unchanged=tally.unchanged,
        failed=len(tally.errors),
        cancelled=tally.cancelled,
    )
    if parked is not None:
        pausing.release_if_resumed(db, correlation_id, parked, enqueue)
    # Cleared after counting: a crash in between pushes again (harmless), never loses one.
    repo.clear_apple_push_pending(
        db, tenant_id, [(pass_id, tag) for pass_id, (_, tag) in tally.to_push.items()]
    )
    # Likewise Google's objects: a crash before this PATCHes them again and counts them.
    passes_repo.mark_google_synced(db, tenant_id, synced)
    return _let_go(db, correlation_id, batch_id, owner, result)


def _not_a_run(
    context: JobContext,
    operation: dict[str, Any],
    batch_id: str,
    pass_ids: Sequence[str],
    enqueue: pausing.EnqueueBatch | None,
) -> tuple[bool, dict[str, Any] | None]:
    """A batch that starts while its campaign is paused: (True, what it recorded) when
    handled here, else (False, None): a batch to run."""
    db, correlation_id = context.db, str(operation["_id"])
    if operation["status"] == operations.PAUSED:  # started while paused: all kept for later
        waiting = pausing.park(batch_id, 0, pass_ids)
        recorded = operations.record_results(
            db, correlation_id, batch_id, also=waiting.as_fields(), only_active=True
        )
        pausing.release_if_resumed(db, correlation_id, waiting, enqueue)
        return True, recorded
    return False, None


def _let_go(
    db: Any, correlation_id: str, batch_id: str, owner: str, result: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The batch is done: once the campaign ended forget its batches, else release this one."""
    if result is not None and result["status"] in operations.FINAL_STATUSES:
        repo.drop_batches(db, correlation_id)  # nothing left to recover
    else:
        repo.release_batch(db, correlation_id, batch_id, owner=owner)
    return result
