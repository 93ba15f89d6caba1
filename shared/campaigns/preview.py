"""A campaign's preview (dry run): what the real campaign would do, computed on its own code
path, with nothing written, signed, pushed or sent.

A small segment is previewed in the request (`preview`); a larger one is an operation of kind
`preview`, planned, walked and batched by the campaign's own planning and batch task (the batch
hands it to run_preview_batch), each batch's figures recorded once in its counters.

The same walk of the segment (`_id` order, batch by batch), the same bulk read (without the
signed parts, which only the samples read), the same
external data fetch (the tenant's data providers are the only calls made), the same patch and
message applied (batches.patched_pass), the same render and content-hash comparison (the
Apple rendition is not signed) and the same rules the batch counts by: a pass counts
`wouldChange` where the campaign would count it `succeeded` (its rendering or data changes, or
a push it still owes), `unchanged` and `failed` likewise. Apple devices are counted as the
push fan-out would count them (distinct tokens per certificate); Google objects where the
delivery would call Google (its object owed, and someone holds it).

Alerts go through the campaign's own per-pass notification decisions
(shared/notifications/campaign.py over policy.decide: consent, quiet hours, budgets), made
with `spend=False`: budgets are read, never spent. A pass held back on a wallet is counted in
`heldBack` under the decision's reason (consent, budget, quietHours), as the campaign counts
`suppressed.<reason>`.

Up to MAX_SAMPLES sample diffs show a changed pass as its holder would read it: each Apple
field whose value changes, `label: before → after`, values resolved through pass.strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import operations
from shared.apple.issuing import AppleRenderFailed, AppleRendition
from shared.apple.strings import StringsError, parse_pass_strings
from shared.campaigns import class_messages
from shared.campaigns.batches import GONE, batch_external_data, data_changed, patched_pass
from shared.campaigns.segments import Segment, segment_query
from shared.infra.clock import utcnow
from shared.notifications import campaign as notifications
from shared.passes import messages
from shared.passes.apple_versions import changed_rendition
from shared.passes.google_versions import (
    GoogleRenderFailed,
    google_holder,
    google_owed_to_holder,
    new_google_version,
)
from shared.passes.jobs import JobContext, UnknownPassType
from shared.repositories import campaign_waits, registrations
from shared.repositories import campaigns as repo

HELD_BACK_REASONS = ("consent", "budget", "quietHours")
MAX_SAMPLES = 5
_SECTIONS = ("headerFields", "primaryFields", "secondaryFields", "auxiliaryFields", "backFields")
_SAMPLE_LANGUAGE = "en"
# Left out of the batch's read (most of a stored pass's bytes); read back for samples only.
_SIGNED_PARTS = ("apple.passJson", "apple.manifest", "apple.signature", "apple.strings")
_COUNTERS = "preview"  # counters.preview.*: a preview operation's figures


@dataclass
class PreviewReport:
    matched: int = 0
    would_change: int = 0
    unchanged: int = 0
    failed: int = 0
    apple_devices: int = 0
    apple_alerts: int = 0
    google_objects: int = 0
    google_alerts: int = 0
    held_back: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HELD_BACK_REASONS, 0))
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[operations.ItemError] = field(default_factory=list)
    # The class the message would go to, once, instead of the objects (class_messages.py).
    google_class: str | None = None

    def fail(self, pass_id: str, reason: str) -> None:
        self.failed += 1
        self.errors.append(operations.ItemError(pass_id, reason))

    def as_counters(self) -> dict[str, int]:
        """The figures beyond the item counters, as dotted operation counters."""
        counters = {
            f"{_COUNTERS}.appleDevices": self.apple_devices,
            f"{_COUNTERS}.appleAlerts": self.apple_alerts,
            f"{_COUNTERS}.googleObjects": self.google_objects,
            f"{_COUNTERS}.googleAlerts": self.google_alerts,
        }
        counters.update({f"{_COUNTERS}.heldBack.{r}": n for r, n in self.held_back.items()})
        return counters

    def as_document(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "wouldChange": self.would_change,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "apple": {"devicesToPush": self.apple_devices, "alerts": self.apple_alerts},
            "google": {
                "objectsToUpdate": self.google_objects,
                "alerts": self.google_alerts,
                "classMessage": None
                if self.google_class is None
                else {"classId": self.google_class},
            },
            "heldBack": dict(self.held_back),
            "samples": list(self.samples),
        }


@dataclass
class _Batch:
    notes: notifications.CampaignNotifications | None = None  # None: the campaign has no message
    to_push: dict[str, str] = field(default_factory=dict)  # pass id → topic
    alerting: set[str] = field(default_factory=set)
    room: int = MAX_SAMPLES  # samples still wanted
    # Changed Apple passes, in batch order, while samples are wanted: their diffs need the
    # stored signed parts, read after the walk in one query (_sample).
    candidates: list[tuple[Mapping[str, Any], AppleRendition]] = field(default_factory=list)


def preview(
    context: JobContext,
    campaign: Mapping[str, Any],
    segment: Segment,
    *,
    size: int | None = None,
) -> PreviewReport:
    """Preview `campaign` (an operation as the campaign stores it: `_id`, `tenant`,
    `intent.patch`, `message`) over `segment`, in this process (a small segment, answered at
    once; a larger one is an operation of kind `preview`, see run_preview_batch)."""
    db, tenant_id = context.db, str(campaign["tenant"])
    size = size or context.settings.campaign_batch_size
    query = segment_query(tenant_id, segment)
    report = PreviewReport(matched=repo.count_segment(db, query))
    campaign, report.google_class = _by_class(context, campaign, report.matched)
    cursor: str | None = None
    while True:
        ids = list(repo.segment_ids(db, query, limit=size, batch_size=size, after=cursor))
        if not ids:
            break
        _preview_batch(context, campaign, ids, report)
        cursor = ids[-1]
        if len(ids) < size:
            break
    return report


def _preview_batch(
    context: JobContext,
    campaign: Mapping[str, Any],
    pass_ids: Sequence[str],
    report: PreviewReport,
    *,
    room: int | None = None,
) -> None:
    """Preview `pass_ids` into `report`, with up to `room` new samples (by default what
    `report` still lacks of MAX_SAMPLES)."""
    tenant_id = str(campaign["tenant"])
    documents = repo.load_passes(context.db, tenant_id, pass_ids, without=_SIGNED_PARTS)
    room = MAX_SAMPLES - len(report.samples) if room is None else room
    # The devices of every pass read, fetched while this process fetches the external data
    # and renders (the database works meanwhile); counted for the passes owing a push.
    with ThreadPoolExecutor(max_workers=1) as reader:
        devices = reader.submit(
            registrations.push_tokens_for_passes, context.db, tenant_id, list(documents)
        )
        batch = _preview_documents(context, campaign, pass_ids, documents, report, room=room)
        _count_devices(devices.result(), batch, report)
    report.samples.extend(_sample(context, tenant_id, batch))
    if batch.notes is not None:  # held back on at least one wallet, by the decision's reason
        for reason, count in batch.notes.counts.by_reason.items():
            report.held_back[reason] = report.held_back.get(reason, 0) + count


def _preview_documents(
    context: JobContext,
    campaign: Mapping[str, Any],
    pass_ids: Sequence[str],
    documents: Mapping[str, dict[str, Any]],
    report: PreviewReport,
    *,
    room: int,
) -> _Batch:
    """Each pass as the campaign batch would prepare it (in `pass_ids` order), counted into
    `report`; what is left to count after the walk in the batch returned."""
    tenant_id, patch = str(campaign["tenant"]), messages.campaign_patch(campaign)
    external = batch_external_data(context, tenant_id, documents, patch)
    now = utcnow()
    batch = _Batch(_decisions(context, campaign, now), room=room)
    if batch.notes is not None:
        batch.notes.read_budgets(documents.values())
    for pass_id in pass_ids:
        document = documents.get(pass_id)
        if document is None:
            report.fail(pass_id, GONE)
            continue
        fetched = external.get(pass_id)
        if fetched is not None and fetched.error is not None:
            report.fail(pass_id, fetched.error)
            continue
        data = fetched.data if fetched is not None else {}
        try:
            after = _preview_pass(context, document, patch, now=now, external=data, batch=batch)
        except (AppleRenderFailed, GoogleRenderFailed, UnknownPassType) as exc:
            report.fail(pass_id, str(exc))
            continue
        _count(document, after, patch, batch=batch, report=report)
    return batch


def _by_class(
    context: JobContext, campaign: Mapping[str, Any], matched: int
) -> tuple[Mapping[str, Any], str | None]:
    """The campaign with its Google message decision, as planning would record it, and the
    class its message would go to (None: per object)."""
    tenant = context.tenants.get(str(campaign["tenant"]))
    if tenant is None:
        return campaign, None
    choice = class_messages.choose(campaign, tenant.notifications, tenant.pass_types, matched)
    record = choice.as_record()
    return {**campaign, class_messages.FIELD: record}, record.get("classId")


def _decisions(
    context: JobContext, campaign: Mapping[str, Any], now: datetime
) -> notifications.CampaignNotifications | None:
    """The campaign's notification decisions (shared/notifications/policy.decide), made as
    the real batch makes them but spending nothing: budgets are only read."""
    tenant = context.tenants.get(str(campaign["tenant"]))
    if tenant is None:
        return None
    return class_messages.per_pass(
        notifications.for_campaign(context.redis, tenant.notifications, campaign, now, spend=False),
        campaign,
    )


def _preview_pass(
    context: JobContext,
    document: Mapping[str, Any],
    patch: Mapping[str, Any],
    *,
    now: datetime,
    external: Mapping[str, Any],
    batch: _Batch,
) -> dict[str, Any] | None:
    """The pass as the campaign would store it, or None when nothing would change."""
    tenant, pass_type, patched = patched_pass(context, document, patch, now, notes=batch.notes)
    rendition = changed_rendition(context, tenant, pass_type, patched, now=now, external=external)
    google = new_google_version(pass_type, patched, now=now, external=external)
    if rendition is None and google is None and not data_changed(document, patched):
        return None
    after = dict(patched)
    if rendition is not None:
        after.update(apple={"passTypeIdentifier": rendition.pass_type_identifier})
        after["applePushPending"] = True
        if batch.room > 0:
            batch.candidates.append((document, rendition))
    if google is not None:
        after["google"] = google
    return after


def _count(
    document: Mapping[str, Any],
    after: Mapping[str, Any] | None,
    patch: Mapping[str, Any],
    *,
    batch: _Batch,
    report: PreviewReport,
) -> None:
    """What the batch's tally would count for this pass (batches._Tally.done)."""
    message_id = messages.message_id(patch)
    state = after if after is not None else document
    owes_push = bool(state.get("applePushPending") and state.get("apple"))
    if owes_push:
        batch.to_push[str(document["_id"])] = str(state["apple"]["passTypeIdentifier"])
        if messages.alerted_by(state, message_id):
            batch.alerting.add(str(document["_id"]))
    if after is not None or owes_push:
        report.would_change += 1
    else:
        report.unchanged += 1
    google = state.get("google")
    message = patch.get(messages.PATCH_KEY)
    # Google is called only for objects someone holds (shared/passes/google_delivery.py).
    if google and google_holder(state) is not None:
        report.google_objects += int(google_owed_to_holder(state))
        if message is not None:
            send, notify = (True, True) if batch.notes is None else batch.notes.google(document)
            report.google_alerts += int(send and notify)


def _count_devices(
    by_pass: Mapping[str, list[tuple[str, str]]], batch: _Batch, report: PreviewReport
) -> None:
    """Distinct push tokens per certificate, as push_to_devices would push them; `by_pass`:
    each pass's devices (device, push token)."""
    by_topic: dict[str, list[str]] = {}
    for pass_id, topic in batch.to_push.items():
        by_topic.setdefault(topic, []).append(pass_id)
    for pass_ids in by_topic.values():
        tokens = {token for p in pass_ids for _, token in by_pass.get(p, ())}
        alerted = {
            token for p in pass_ids if p in batch.alerting for _, token in by_pass.get(p, ())
        }
        report.apple_devices += len(tokens)
        report.apple_alerts += len(alerted)


def _sample(context: JobContext, tenant_id: str, batch: _Batch) -> list[dict[str, Any]]:
    """Up to `batch.room` sample diffs, the first changed passes in batch order whose fields
    a holder would see change; their stored signed parts (the batch read left them out) read
    in one query for as many passes as samples are still wanted (rarely more than once)."""
    samples: list[dict[str, Any]] = []
    waiting = batch.candidates
    while waiting and len(samples) < batch.room:
        wanted, waiting = (
            waiting[: batch.room - len(samples)],
            waiting[batch.room - len(samples) :],
        )
        stored = _signed(context, tenant_id, [document for document, _ in wanted])
        for document, rendition in wanted:
            changes = _field_changes(stored.get(str(document["_id"])), rendition)
            if changes:
                samples.append({"passId": document["_id"], "changes": changes})
    return samples


def _signed(
    context: JobContext, tenant_id: str, documents: Sequence[Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The stored Apple versions with their signed parts, by pass id (one read)."""
    pass_ids = [str(document["_id"]) for document in documents if document.get("apple")]
    if not pass_ids:
        return {}
    found = repo.load_passes(context.db, tenant_id, pass_ids)
    return {pass_id: stored["apple"] for pass_id, stored in found.items() if stored.get("apple")}


def _field_changes(previous: Mapping[str, Any] | None, rendition: AppleRendition) -> list[str]:
    """`label: before → after` for each field whose value a holder would see change."""
    before = _fields(bytes(previous["passJson"]), _stored_strings(previous)) if previous else {}
    after = _fields(rendition.pass_json, dict(rendition.strings))
    changes = []
    for key, (label, value) in after.items():
        old = before.get(key, (label, ""))[1]
        if old != value:
            changes.append(f"{label or key}: {old or '—'} → {value}")
    for key, (label, value) in before.items():
        if key not in after:
            changes.append(f"{label or key}: {value} → —")
    return changes


def _stored_strings(previous: Mapping[str, Any]) -> dict[str, bytes]:
    return {str(item["name"]): bytes(item["data"]) for item in previous.get("strings") or ()}


def _fields(pass_json: bytes, strings: Mapping[str, bytes]) -> dict[str, tuple[str, str]]:
    """Every field of the pass by key: (label, value) as read in one language."""
    table = _strings_table(strings)
    document = json.loads(pass_json)
    found: dict[str, tuple[str, str]] = {}
    for style in document.values():
        if not isinstance(style, dict):
            continue
        for section in _SECTIONS:
            for item in style.get(section) or ():
                label, value = str(item.get("label", "")), str(item.get("value", ""))
                found[str(item.get("key"))] = (table.get(label, label), table.get(value, value))
    return found


def _strings_table(strings: Mapping[str, bytes]) -> dict[str, str]:
    names = sorted(strings, key=lambda name: not name.startswith(f"{_SAMPLE_LANGUAGE}."))
    if not names:
        return {}
    try:
        return parse_pass_strings(strings[names[0]])
    except StringsError:
        return {}


def run_preview_batch(
    context: JobContext, operation: Mapping[str, Any], batch_id: str, pass_ids: Sequence[str]
) -> dict[str, Any] | None:
    """One batch of an operation of kind `preview` (planned and walked by the campaign's own
    planning): previewed and recorded once by batch id, as a campaign batch is, its figures
    in the operation's counters (report_of reads them back) and its first samples kept.
    Without the campaign batch's lease: a copy run meanwhile (a message delivered twice)
    computes the same figures and its record does not count, its samples are not kept."""
    correlation_id = str(operation["_id"])
    report = PreviewReport()
    # Samples only while the operation lacks some: they cost a read of the signed parts.
    room = max(MAX_SAMPLES - len(operation.get(campaign_waits.SAMPLES) or ()), 0)
    _preview_batch(context, operation, pass_ids, report, room=room)
    if report.samples:
        campaign_waits.keep_samples(context.db, correlation_id, report.samples, MAX_SAMPLES)
    result = operations.record_results(
        context.db,
        correlation_id,
        batch_id,
        succeeded=report.would_change,
        unchanged=report.unchanged,
        failed=report.failed,
        delivery=report.as_counters(),
        errors=tuple(report.errors),
    )
    if result is not None and result["status"] in operations.FINAL_STATUSES:
        repo.drop_batches(context.db, correlation_id)  # the walk saved them; none is left
    return context.finished(result)


def report_of(operation: Mapping[str, Any]) -> dict[str, Any]:
    """The report of an operation of kind `preview`, from its counters (so far, while it runs)."""
    counters = operation.get("counters") or {}
    figures = counters.get(_COUNTERS) or {}
    held = dict.fromkeys(HELD_BACK_REASONS, 0)
    held.update(figures.get("heldBack") or {})
    report = PreviewReport(
        matched=int(counters.get("total", 0)),
        would_change=int(counters.get("succeeded", 0)),
        unchanged=int(counters.get("unchanged", 0)),
        failed=int(counters.get("failed", 0)),
        apple_devices=int(figures.get("appleDevices", 0)),
        apple_alerts=int(figures.get("appleAlerts", 0)),
        google_objects=int(figures.get("googleObjects", 0)),
        google_alerts=int(figures.get("googleAlerts", 0)),
        held_back=held,
        samples=list(operation.get(campaign_waits.SAMPLES) or []),
        google_class=(operation.get(class_messages.FIELD) or {}).get("classId"),
    )
    return report.as_document()
