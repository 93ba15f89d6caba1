"""Apple's PassKit web service (device registration protocol, v1), independent of HTTP.

Wallet devices register for the passes they hold, ask which passes changed since an update
tag, and unregister. A device proves it holds a pass with `Authorization: ApplePass <token>`,
the pass's `authenticationToken`. Every refusal looks the same (unknown serial, another
tenant's pass, another pass type, wrong token), so a device learns nothing it does not hold.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.infra.clock import utcnow
from shared.repositories import deleted_passes
from shared.repositories import passes as passes_repo
from shared.repositories import registrations as repo
from shared.webhooks.config import PASS_INSTALLED, PASS_UNINSTALLED

if TYPE_CHECKING:
    from pymongo.database import Database

AUTH_SCHEME = "ApplePass"
INT64_MAX = 2**63 - 1  # update tags are MongoDB int64s: nothing is ever newer than this
MAX_LOG_LINES = 50
MAX_LOG_BYTES = 1024

_TAG = re.compile(r"[0-9]{1,100}")
# Compared against when there is no pass, so refusals take the same path either way.
_NO_TOKEN = b"\x00" * 32
# Long runs of token characters (push tokens, authentication tokens, device ids) and the
# credentials of an Authorization header are never written to our logs.
_SECRET_RUN = re.compile(r"[A-Za-z0-9_-]{32,}")
_AUTH_VALUE = re.compile(r"(?i)(ApplePass\s+)\S+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RegistrationLimitReached(Exception):
    """The device already holds the most registrations one device may have."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a device may register for at most {limit} passes")
        self.limit = limit


class PassDeviceLimitReached(Exception):
    """The pass is already registered on the most devices one pass may have."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a pass may be registered on at most {limit} devices")
        self.limit = limit


@dataclass(frozen=True)
class PassRef:
    """A pass as a device names it in the path."""

    tenant_id: str
    pass_type_identifier: str
    serial: str


@dataclass(frozen=True)
class UpdatedSerials:
    serial_numbers: list[str]
    last_updated: str  # a string: tags are int64 and must survive JSON parsers as doubles


def token_from_header(value: str | None) -> str | None:
    """The token of `Authorization: ApplePass <token>`, None when absent or another scheme."""
    scheme, _, token = (value or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != AUTH_SCHEME.lower() or not token:
        return None
    return token


def is_authorized(
    document: Mapping[str, Any] | None, ref: PassRef, authorization: str | None
) -> bool:
    """True when the pass exists in the tenant, has the path's Apple pass type and its token
    equals the presented one (compared in constant time)."""
    token = token_from_header(authorization)
    expected = document.get("authenticationToken") if document is not None else None
    expected_bytes = expected.encode("utf-8") if isinstance(expected, str) and expected else None
    presented = token.encode("utf-8") if token is not None else b""
    tokens_match = hmac.compare_digest(presented, expected_bytes or _NO_TOKEN)
    if document is None or expected_bytes is None or token is None or not tokens_match:
        return False
    apple = document.get("apple") or {}
    return bool(
        document.get("tenant") == ref.tenant_id
        and document.get("_id") == ref.serial
        and apple.get("passTypeIdentifier") == ref.pass_type_identifier
    )


def find_for_device(db: Database[Any], ref: PassRef) -> dict[str, Any] | None:
    """The pass, or what is kept of it once deleted: its voided last version, for the
    devices still registered (repositories/deleted_passes.py)."""
    found = passes_repo.find_pass(db, ref.tenant_id, ref.serial)
    return found or deleted_passes.find_remnant(db, ref.tenant_id, ref.serial)


def authenticate(db: Database[Any], ref: PassRef, authorization: str | None) -> bool:
    return is_authorized(find_for_device(db, ref), ref, authorization)


def register(
    db: Database[Any],
    ref: PassRef,
    *,
    device: str,
    push_token: str,
    max_per_device: int,
    max_per_pass: int,
    now: datetime | None = None,
) -> bool:
    """Register the (authenticated) device for the pass, or refresh its push token.

    True when newly registered. A device already holding `max_per_device` registrations may
    still refresh them but not add one (RegistrationLimitReached); likewise a pass registered
    on `max_per_pass` devices takes no other device (PassDeviceLimitReached). The checks are
    not atomic with the write: concurrent first registrations may overshoot by a few, which
    the call rates per device and per pass bound.
    """
    device_full = repo.count_for_device(db, device) >= max_per_device
    pass_full = repo.count_for_pass(db, ref.tenant_id, ref.serial) >= max_per_pass
    if (device_full or pass_full) and not repo.registration_exists(
        db, device=device, pass_type_identifier=ref.pass_type_identifier, serial=ref.serial
    ):
        if device_full:
            raise RegistrationLimitReached(max_per_device)
        raise PassDeviceLimitReached(max_per_pass)
    return repo.upsert_registration(
        db,
        tenant_id=ref.tenant_id,
        device=device,
        pass_type_identifier=ref.pass_type_identifier,
        serial=ref.serial,
        push_token=push_token,
        now=now or utcnow(),
    )


def unregister(db: Database[Any], ref: PassRef, *, device: str) -> bool:
    """Forget the device's registration for the pass; False when there was none. A deleted
    pass's remnant goes with its last device."""
    removed = repo.delete_registration(
        db, device=device, pass_type_identifier=ref.pass_type_identifier, serial=ref.serial
    )
    if removed and repo.count_for_pass(db, ref.tenant_id, ref.serial) == 0:
        deleted_passes.forget_remnant(db, ref.tenant_id, ref.serial)
    return removed


def note_install_state(
    db: Database[Any], ref: PassRef, *, now: datetime | None = None
) -> str | None:
    """Keep the pass's Apple install state in step with its registrations: installed while at
    least one device holds it. Returns the webhook event to fire when the state changed."""
    at = now or utcnow()
    registered = repo.count_for_pass(db, ref.tenant_id, ref.serial) > 0
    changed = passes_repo.set_install_state(
        db, ref.tenant_id, ref.serial, "apple", installed=registered, now=at
    )
    if not changed:
        return None
    return PASS_INSTALLED if registered else PASS_UNINSTALLED


def parse_update_tag(raw: str | None) -> int | None:
    """An update tag we issued (a non-negative integer); None for anything else."""
    if raw is None or not _TAG.fullmatch(raw):
        return None
    return min(int(raw), INT64_MAX)


def summarise(updates: Iterable[tuple[str, int]]) -> UpdatedSerials | None:
    """Serials (sorted) and the greatest tag among them; None when there are none."""
    items = sorted(updates)
    if not items:
        return None
    return UpdatedSerials(
        serial_numbers=[serial for serial, _ in items],
        last_updated=str(max(tag for _, tag in items)),
    )


def serials_updated_since(
    db: Database[Any],
    *,
    tenant_id: str,
    device: str,
    pass_type_identifier: str,
    passes_updated_since: str | None,
) -> UpdatedSerials | None:
    """Passes the device registered for whose tag is greater than the given one (every
    registered pass when the tag is absent or unparsable); None when there are none."""
    since = parse_update_tag(passes_updated_since)
    if since == INT64_MAX:
        return None
    return summarise(
        repo.updated_passes_for_device(
            db,
            tenant_id=tenant_id,
            device=device,
            pass_type_identifier=pass_type_identifier,
            since=since,
        )
    )


def sanitise_device_logs(messages: Iterable[str]) -> tuple[list[str], int]:
    """At most MAX_LOG_LINES messages, each cut to MAX_LOG_BYTES of UTF-8, on one line, with
    token-like values redacted; and how many messages were dropped."""
    kept: list[str] = []
    dropped = 0
    for message in messages:
        if len(kept) == MAX_LOG_LINES:
            dropped += 1
            continue
        # Redact before cutting, so a cut never leaves part of a token unredacted.
        clean = _SECRET_RUN.sub("[redacted]", _AUTH_VALUE.sub(r"\1[redacted]", message))
        clean = _CONTROL.sub(" ", clean)
        kept.append(clean.encode("utf-8")[:MAX_LOG_BYTES].decode("utf-8", "ignore"))
    return kept, dropped
