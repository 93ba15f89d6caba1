"""Delivering a pass to Google from a job: sync its object when owed, add a message if asked.

Only for a pass someone may hold in Google Wallet (`google_holder`): the others make no call,
their object stays owed (`googlePending`) until their next Save link click brings Google up to
date (api/google/save.py), and a message for them is counted `google.noHolder`.

A Google failure never fails the pass: the change is stored, the object stays owed
(`google_pending`) and is sent by the pass's next job; the operation counts `google.failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.clients.google_wallet import GoogleApiError
from shared.google import delivery
from shared.infra.ratelimit import RateLimitTimeout
from shared.notifications import budgets
from shared.passes.google_versions import google_holder, google_pending
from shared.passes.jobs import JobContext
from shared.repositories import passes as passes_repo

log = logging.getLogger(__name__)


def deliver_to_google(
    context: JobContext,
    document: Mapping[str, Any],
    *,
    message: Mapping[str, Any] | None = None,
    notify: bool = True,
    synced: list[tuple[str, str]] | None = None,
) -> delivery.GoogleCounts:
    """Bring Google's object up to date (and add `message`, a Google message body, notifying
    the phone when `notify`: the caller spent the alert, given back here if Google refuses).

    Google's acknowledgement is stored on the pass at once; with `synced`, (pass id, content
    hash) is appended there instead, for a caller that stores it only once it has counted
    the call (repositories.passes.mark_google_synced): a job that dies in between sends
    the object again rather than losing its count."""
    counts = delivery.GoogleCounts()
    google = document.get("google")
    pending = google_pending(document)
    if not google or (not pending and message is None):
        return counts
    if google_holder(document) is None:
        return _no_holder(context, document, message=message, notify=notify)
    tenant, pass_type = context.pass_type(document["tenant"], document["passType"])
    if pass_type.google is None:
        return counts
    try:
        client = context.google_client(tenant, google["issuerId"], context.settings)
    except delivery.GoogleDeliveryFailed as exc:
        log.warning("pass %s not sent to Google: %s", document["_id"], exc)
        counts.failed += 1
        return counts
    mark = delivery.cost_mark(client)
    try:
        if pending:
            callback_url = context.settings.google_callback_url(tenant.id)
            if delivery.sync_object(client, pass_type.google, google, callback_url) == "inserted":
                counts.inserted += 1
            else:
                counts.patched += 1
            if synced is None:
                passes_repo.mark_google_synced(
                    context.db, tenant.id, [(document["_id"], google["contentHash"])]
                )
            else:
                synced.append((document["_id"], google["contentHash"]))
        if message is not None:
            notified = delivery.add_message(
                client,
                kind=google["kind"],
                object_id=google["objectId"],
                message=message,
                notify=notify,
            )
            counts.notified += int(notified)
            counts.suppressed += int(not notified)
    except (GoogleApiError, RateLimitTimeout) as exc:
        log.warning("pass %s not sent to Google: %s", document["_id"], exc)
        counts.failed += 1
        if message is not None and notify:
            budgets.refund_google(context.redis, document, str(message["id"]))
    counts.add(delivery.call_cost(client, mark))
    return counts


def _no_holder(
    context: JobContext,
    document: Mapping[str, Any],
    *,
    message: Mapping[str, Any] | None,
    notify: bool,
) -> delivery.GoogleCounts:
    """Nobody holds the object: nothing to update, nobody to show a message to (counted
    `google.noHolder`; the alert the caller spent is given back)."""
    counts = delivery.GoogleCounts()
    if message is not None:
        counts.no_holder += 1
        if notify:
            budgets.refund_google(context.redis, document, str(message["id"]))
    return counts
