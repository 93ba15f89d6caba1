"""Keeping Google's copy of a pass in step with ours: its class, its object, its messages.

Google stores the object and updates the phone itself, so delivering a change is a REST call:
insert the object the first time, PATCH it afterwards (re-inserting when Google lost it). The
pass document remembers the content hash Google last acknowledged (`google.syncedHash`): a
pass whose rendered object differs from it still owes Google a call, which the next job makes
if this one dies or Google fails.

Visible messages notify the phone at most 3 times per object in 24 h (Google's limit). Whether
a message notifies is decided per pass by shared/notifications/policy.py (consent, quiet hours,
that budget, spent in Redis by shared/notifications/budgets.py); here it is only added, as
TEXT_AND_NOTIFY or TEXT (silent, counted `google.notificationSuppressed`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.settings import Settings
from shared.clients.google_wallet import GoogleApiError, GoogleWalletClient
from shared.google.issuers import GoogleCredentialError
from shared.google.passtype import GooglePassType, render_google_class
from shared.infra import process_clients
from shared.infra.ratelimit import SlidingWindowLimiter
from shared.infra.redis_clients import process_client
from shared.tenancy.tenants import Tenant

log = logging.getLogger(__name__)

TEXT_AND_NOTIFY = "TEXT_AND_NOTIFY"
TEXT = "TEXT"
_RATE_KEY = "passwire:google:rate:"


class GoogleDeliveryFailed(Exception):
    """Google could not be reached or refused the call; the message is safe to show."""


@dataclass
class GoogleCounts:
    inserted: int = 0
    patched: int = 0
    failed: int = 0
    notified: int = 0
    suppressed: int = 0
    no_holder: int = 0  # messages not added: nobody holds the object (no call made)
    requests: int = 0
    waited_ms: int = 0

    def add(self, other: GoogleCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_counters(self) -> dict[str, int]:
        counters = {
            "google.updated": self.inserted + self.patched,
            "google.inserted": self.inserted,
            "google.patched": self.patched,
            "google.failed": self.failed,
            "google.notified": self.notified,
            "google.notificationSuppressed": self.suppressed,
            "google.noHolder": self.no_holder,
            "google.requests": self.requests,
            "google.waitedMs": self.waited_ms,
        }
        return {name: value for name, value in counters.items() if value}


def google_client(tenant: Tenant, issuer_id: str, settings: Settings) -> GoogleWalletClient:
    """This process's client for one of the tenant's issuers (tokens cached inside).
    Raises GoogleDeliveryFailed when the service account key is unusable."""

    def new_client() -> GoogleWalletClient:
        try:
            issuer = tenant.google_issuers.get(issuer_id)
        except GoogleCredentialError as exc:
            raise GoogleDeliveryFailed(f"Google service account unusable: {exc}") from exc
        limiter = SlidingWindowLimiter(
            process_client(settings.redis_url, sentinel_password=settings.redis_sentinel_password),
            key=f"{_RATE_KEY}{issuer_id}",
            limit=issuer.ref.requests_per_second,
        )
        return GoogleWalletClient(
            issuer.service_account.info,
            api_base_url=settings.google_api_base_url,
            token_uri=settings.google_token_uri or None,
            limiter=limiter,
        )

    key = ("google", tenant.id, issuer_id, settings.google_api_base_url, settings.google_token_uri)
    return process_clients.get(key, new_client)


def _known_classes() -> set[str]:
    """Class ids this process has made Google's class (see ensure_class)."""
    return process_clients.get(("google-known-classes",), set)


def ensure_class(client: GoogleWalletClient, google: GooglePassType, callback_url: str) -> None:
    """Make Google's class this pass type's `class.json`, once per process and content:
    insert it, or PATCH it when it exists (a changed class.json reaches Google when a
    process first syncs an object with it: after a restart for a folder on disk, after an
    activation for a stored version; a PATCH sets the fields it names, so a field deleted
    from class.json stays on Google's class). A refused PATCH is
    logged and the class taken as it is: the objects need a class, not the latest one."""
    known = _known_classes()
    # By content too: an activated pass type version with a new class.json is sent again.
    marker = f"{google.class_id} {_class_digest(google)}"
    if marker in known:
        return
    body = render_google_class(google, callback_url=callback_url)
    try:
        client.insert_class(google.kind, body)
    except GoogleApiError as exc:
        if exc.status != 409:
            raise
        try:
            client.patch_class(google.kind, google.class_id, body)
        except GoogleApiError as refused:
            log.warning("Google class %s kept as it was: %s", google.class_id, refused)
    known.add(marker)


def _class_digest(google: GooglePassType) -> str:
    text = json.dumps(google.class_fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sync_object(
    client: GoogleWalletClient, google: GooglePassType, stored: Mapping[str, Any], callback_url: str
) -> str:
    """Bring Google's object to the stored rendering: 'inserted' or 'patched'."""
    ensure_class(client, google, callback_url)
    body = stored["object"]
    if stored.get("syncedHash") is not None:
        try:
            client.patch_object(google.kind, stored["objectId"], body)
            return "patched"
        except GoogleApiError as exc:
            if exc.status != 404:
                raise
        # Google lost the object (or it was deleted there): put it back.
    try:
        _insert_object(client, google, body, callback_url)
        return "inserted"
    except GoogleApiError as exc:
        if exc.status != 409:
            raise
    client.patch_object(google.kind, stored["objectId"], body)
    return "patched"


def _insert_object(
    client: GoogleWalletClient, google: GooglePassType, body: Mapping[str, Any], callback_url: str
) -> None:
    try:
        client.insert_object(google.kind, body)
    except GoogleApiError as exc:
        if exc.status not in (400, 404):
            raise
        # Perhaps the class is gone although this process inserted it once: insert it again.
        _known_classes().discard(f"{google.class_id} {_class_digest(google)}")
        ensure_class(client, google, callback_url)
        client.insert_object(google.kind, body)


def add_message(
    client: GoogleWalletClient,
    *,
    kind: str,
    object_id: str,
    message: Mapping[str, Any],
    notify: bool,
) -> bool:
    """Add a message, notifying the phone when `notify`; True if it notified. Google counting
    more notifications than our budget did (`quotaExceeded`) adds it silently instead."""
    if notify:
        try:
            client.add_message(kind, object_id, {**message, "messageType": TEXT_AND_NOTIFY})
            return True
        except GoogleApiError as exc:
            if exc.reason != "quotaExceeded":
                raise
    client.add_message(kind, object_id, {**message, "messageType": TEXT})
    return False


def google_message(
    message_id: str, header: str, content: str, localized: Mapping[str, str]
) -> dict[str, Any]:
    """A Google Wallet message from an operation's message (`content`, per-language text)."""
    body: dict[str, Any] = {"id": message_id, "header": header, "body": content}
    if localized:
        body["localizedBody"] = {
            "defaultValue": {"language": "en", "value": content},
            "translatedValues": [
                {"language": language, "value": text} for language, text in localized.items()
            ],
        }
    return body


def call_cost(client: GoogleWalletClient, before: tuple[int, float]) -> GoogleCounts:
    """Requests made and limiter/backoff time spent since `before` (see `cost_mark`)."""
    stats = client.stats
    return GoogleCounts(
        requests=stats.requests - before[0],
        waited_ms=int((stats.waited_s - before[1]) * 1000),
    )


def cost_mark(client: GoogleWalletClient) -> tuple[int, float]:
    return client.stats.requests, client.stats.waited_s
