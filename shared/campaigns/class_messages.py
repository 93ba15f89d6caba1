"""Class-wide Google messages: a campaign that tells every pass of a pass type the same thing
sends one class `addMessage` (Google shows a class's messages on every object of the class,
and TEXT_AND_NOTIFY notifies every holder who saved one) instead of one per object.

One call cannot tell holders apart, so the class-wide path is taken only where passwire's
per-holder decision (shared/notifications/policy.decide) cannot differ between holders:
- the campaign has a message of kind `transactional` (a marketing alert depends on each
  holder's consent);
- no quiet-hours window applies to it (a window is read in each holder's time zone);
- its segment is every pass of one pass type: that one type and no other filter (no ids,
  identifiers, metadata, install state), and the segment is not empty;
- the pass type has a Google class.
Campaign messages are literal text (never rendered per pass), so the message is the same for
every pass whenever the rest holds.

Budgets: the class message spends no object's budget (it reaches objects passwire does not
address one by one); the class has its own, GOOGLE_ALERTS_PER_DAY notifying class messages per
rolling 24 h, spent in Redis like the objects' (exact under concurrency, the message id as
member). Over it, or when Google answers `quotaExceeded`, the message is added as TEXT.
Apple holders are untouched by all this: they get the message per pass, decided per pass.

Decided once, when the campaign is planned, and stored on the operation before any batch is
enqueued (shared/repositories/class_messages.py): a retried planning job keeps the first
decision, and the send is claimed with a lease, so it goes once; a job taking over a send
whose job died checks Google's class for the message before sending. The batches read the
decision: while the campaign goes by class they add no message to any object. A class message
Google refused (`failed`) falls back to the per-object messages.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from shared import operations
from shared.campaigns import PREVIEW
from shared.campaigns.segments import from_intent
from shared.clients.google_wallet import GoogleApiError, GoogleWalletClient
from shared.google import delivery
from shared.infra.clock import utcnow
from shared.infra.ratelimit import RateLimitTimeout
from shared.notifications import MARKETING
from shared.notifications.campaign import CampaignNotifications
from shared.notifications.config import GOOGLE_ALERTS_PER_DAY, NotificationPolicy
from shared.notifications.policy import Decision, notice_of
from shared.passes.jobs import JobContext, UnknownPassType
from shared.repositories import class_messages as repo
from shared.tenancy.tenants import PassType

log = logging.getLogger(__name__)

CLASS, OBJECTS = "class", "objects"  # how the campaign's message reaches Google
FIELD = repo.FIELD  # where the operation keeps the decision
RECORD = "google:class-message"  # the results record of the class message (counted once)
LEASE = timedelta(minutes=2)  # a send whose job died is taken over after this
CLASS_KEY = "passwire:google:class-notify:"
_PERIOD_MS = 24 * 3600 * 1000

# Why a campaign goes per object (stored on the operation, shown in its document).
NO_MESSAGE = "the campaign has no message"
NOT_TRANSACTIONAL = "a marketing message alerts only holders who gave consent"
QUIET_HOURS = "quiet hours apply, read in each holder's time zone"
NARROW_SEGMENT = "the segment is not every pass of one pass type"
NO_GOOGLE_CLASS = "the pass type has no Google class"
EMPTY_SEGMENT = "the segment is empty"


@dataclass(frozen=True)
class Choice:
    """How a campaign's message reaches Google: by CLASS (`pass_type` names it) or OBJECTS."""

    by: str
    why: str = ""
    pass_type: PassType | None = None

    def as_record(self) -> dict[str, Any]:
        if self.by != CLASS or self.pass_type is None or self.pass_type.google is None:
            return {"by": OBJECTS, "why": self.why}
        google = self.pass_type.google
        return {
            "by": CLASS,
            "passType": self.pass_type.id,
            "issuerId": google.issuer_id,
            "kind": google.kind,
            "classId": google.class_id,
            "state": repo.OWED,
        }


def choose(
    operation: Mapping[str, Any],
    policy: NotificationPolicy,
    pass_types: Mapping[str, PassType],
    matched: int,
) -> Choice:
    """Pure: whether `operation` (a campaign: `message`, `quietHours`, `intent.segment`) over
    `matched` passes goes to Google by class, and why not when it does not."""
    if operation.get("message") is None:
        return Choice(OBJECTS, NO_MESSAGE)
    notice = notice_of(operation)
    if notice.kind == MARKETING:
        return Choice(OBJECTS, NOT_TRANSACTIONAL)
    if notice.window(policy) is not None:
        return Choice(OBJECTS, QUIET_HOURS)
    segment = from_intent(operation["intent"]["segment"])
    filters = segment.filters
    narrowed = (
        segment.ids,
        filters.identifiers,
        filters.metadata,
        filters.apple is not None,
        filters.google is not None,
    )
    if len(filters.pass_types) != 1 or any(narrowed):
        return Choice(OBJECTS, NARROW_SEGMENT)
    pass_type = pass_types.get(filters.pass_types[0])
    if pass_type is None or pass_type.google is None:
        return Choice(OBJECTS, NO_GOOGLE_CLASS)
    if matched <= 0:
        return Choice(OBJECTS, EMPTY_SEGMENT)
    return Choice(CLASS, pass_type=pass_type)


def by_class(operation: Mapping[str, Any]) -> bool:
    """Whether the campaign's message goes to Google by class: its batches then add none to
    the objects. A class message Google refused falls back to per object."""
    record = operation.get(repo.FIELD) or {}
    return record.get("by") == CLASS and record.get("state") != repo.FAILED


def plan(
    context: JobContext, operation: Mapping[str, Any], *, owner: str | None = None
) -> dict[str, Any] | None:
    """Decide how the planned campaign's message reaches Google (once: a retried planning job
    keeps the first decision) and send the class message if it goes by class (once; a preview
    only decides). `owner`: the planning job's id, the same when it is delivered again. The
    decision as stored."""
    record = operation.get(repo.FIELD)
    if record is None:
        tenant = context.tenants.get(str(operation["tenant"]))
        if tenant is None:
            return None
        matched = int(operation["counters"]["total"])
        choice = choose(operation, tenant.notifications, tenant.pass_types, matched)
        record = repo.record_decision(context.db, str(operation["_id"]), choice.as_record())
    if record is not None and record.get("by") == CLASS and operation.get("kind") != PREVIEW:
        send_once(context, operation, owner=owner)
    return record


def resume(context: JobContext, correlation_id: str, *, now: datetime | None = None) -> None:
    """Send a class message its planning job left unsent (its worker died, its message may
    come back only after the broker's visibility timeout): called as the walk advances (by
    each batch, and by the watchdog), it takes the send over once the dead job's lease ran
    out. Nothing to do (one read) once the message is sent, or for a campaign per object."""
    operation = repo.unsettled(context.db, correlation_id)
    if operation is not None and operation.get("kind") != PREVIEW:
        send_once(context, operation, now=now)


# -- the class budget ---------------------------------------------------------------------

# 1 when `member` may notify (recorded now, or already: a retried send), else 0.
_SPEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def spend_class_alert(client: redis.Redis, class_id: str, message_id: str, now: datetime) -> bool:
    """Spend one of the class's notifying messages for the rolling 24 h; False when spent."""
    script = client.register_script(_SPEND)
    args: list[int | str] = [_ms(now), _PERIOD_MS, GOOGLE_ALERTS_PER_DAY, message_id]
    return bool(int(script(keys=[f"{CLASS_KEY}{class_id}"], args=args)))


def refund_class_alert(client: redis.Redis, class_id: str, message_id: str) -> None:
    client.zrem(f"{CLASS_KEY}{class_id}", message_id)


# -- the one send ---------------------------------------------------------------------------


def send_once(
    context: JobContext,
    operation: Mapping[str, Any],
    *,
    owner: str | None = None,
    now: datetime | None = None,
) -> None:
    """Add the campaign's message to its class, once, and count it on the operation. A send
    left `sending` is taken over by the same `owner` at once, by another after its lease."""
    db, correlation_id = context.db, str(operation["_id"])
    now = now or utcnow()
    owner = owner or secrets.token_hex(8)
    before = repo.claim(db, correlation_id, owner=owner, until=now + LEASE, now=now)
    if before is None:
        return  # sent, failed, or another job is sending it now
    message_type: str | None
    try:
        message_type, counters = _send(context, operation, before, now)
    except _NotSent as failure:
        log.warning("campaign %s: class message not sent (%s); per object", correlation_id, failure)
        message_type, counters = None, {**failure.cost, "google.classMessageFailed": 1}
    # Counted, then settled: a crash in between is taken over, finds the message at Google
    # and counts it again under the same record (counted once). Counted even on a campaign
    # that ended meanwhile (a send taken over late): it was sent.
    operations.record_results(db, correlation_id, RECORD, delivery=counters)
    changes: dict[str, Any] = {"at": utcnow()}
    if message_type is not None:
        changes["messageType"] = message_type
    state = repo.FAILED if message_type is None else repo.SENT
    repo.settle(db, correlation_id, owner=owner, state=state, changes=changes)


class _NotSent(Exception):
    """Google refused the class message (or cannot be called): the objects get it instead."""

    def __init__(self, reason: object, cost: Mapping[str, int] | None = None) -> None:
        super().__init__(str(reason))
        self.cost = dict(cost or {})


def _send(
    context: JobContext, operation: Mapping[str, Any], before: Mapping[str, Any], now: datetime
) -> tuple[str, dict[str, int]]:
    """Add the message to the class (unless a job that died had): its type and counters."""
    correlation_id = str(operation["_id"])
    try:
        tenant, pass_type = context.pass_type(str(operation["tenant"]), str(before["passType"]))
        client = context.google_client(tenant, str(before["issuerId"]), context.settings)
    except (UnknownPassType, delivery.GoogleDeliveryFailed) as exc:
        raise _NotSent(exc) from exc
    google = pass_type.google
    if google is None:
        raise _NotSent("the pass type has no Google class any more")
    message = operation["message"]
    body = delivery.google_message(
        correlation_id, tenant.name, message["content"], message.get("localizedContent") or {}
    )
    mark, notify = delivery.cost_mark(client), False
    try:
        message_type = _already_sent(client, before, correlation_id)
        if message_type is None:
            notify = spend_class_alert(context.redis, google.class_id, correlation_id, now)
            delivery.ensure_class(client, google, context.settings.google_callback_url(tenant.id))
            message_type = _add(client, before, body, notify=notify)
    except (GoogleApiError, RateLimitTimeout) as exc:
        if notify:  # Google never took it: the class's alert is not spent
            refund_class_alert(context.redis, google.class_id, correlation_id)
        raise _NotSent(exc, delivery.call_cost(client, mark).as_counters()) from exc
    counters = {"google.classMessages": 1, **delivery.call_cost(client, mark).as_counters()}
    notified = message_type == delivery.TEXT_AND_NOTIFY
    counters["google.classNotified" if notified else "google.classNotificationSuppressed"] = 1
    return message_type, counters


def _already_sent(
    client: GoogleWalletClient, before: Mapping[str, Any], message_id: str
) -> str | None:
    """Taking over a send whose job died: the message's type if Google's class has it."""
    if before.get("state") != repo.SENDING:
        return None
    try:
        found = client.get_class(str(before["kind"]), str(before["classId"]))
    except GoogleApiError as exc:
        if exc.status != 404:
            raise
        return None  # no class yet: nothing was added to it
    for message in found.get("messages") or ():
        if message.get("id") == message_id:
            return str(message.get("messageType") or delivery.TEXT)
    return None


def _add(
    client: GoogleWalletClient, record: Mapping[str, Any], body: Mapping[str, Any], *, notify: bool
) -> str:
    """Add the message to the class; the type it went as (Google's own quota may refuse the
    notification: it then goes silently, as an object's message does)."""
    kind, class_id = str(record["kind"]), str(record["classId"])
    if notify:
        try:
            client.add_class_message(
                kind, class_id, {**body, "messageType": delivery.TEXT_AND_NOTIFY}
            )
            return delivery.TEXT_AND_NOTIFY
        except GoogleApiError as exc:
            if exc.reason != "quotaExceeded":
                raise
    client.add_class_message(kind, class_id, {**body, "messageType": delivery.TEXT})
    return delivery.TEXT


# -- the batches' side ----------------------------------------------------------------------


def _without_google(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return {**document, "google": None} if document.get("google") else document


class AppleOnlyNotifications(CampaignNotifications):
    """The per-pass decisions of a campaign whose Google message went to the class: Apple's
    alone (the objects get no message, so they spend and count nothing)."""

    def read_budgets(self, documents: Iterable[Mapping[str, Any]]) -> None:
        super().read_budgets([_without_google(d) for d in documents])

    def decision(self, document: Mapping[str, Any]) -> Decision:
        return super().decision(_without_google(document))


def per_pass(
    notes: CampaignNotifications | None, operation: Mapping[str, Any]
) -> CampaignNotifications | None:
    """The per-pass decisions a batch makes: Apple's alone while the message goes by class."""
    if notes is None or not by_class(operation):
        return notes
    return AppleOnlyNotifications(
        notes.client, notes.policy, notes.notice, notes.message_id, notes.now, spend=notes.spend
    )
