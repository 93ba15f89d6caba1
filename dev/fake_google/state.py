"""Everything the fake Google Wallet remembers, behind one lock.

Request handler threads and the control surface share it: whoever touches it holds
``state.lock``. Two clocks: ``time.monotonic()`` for the per-second quota, and :meth:`now`
(wall seconds plus an offset tests can advance) for token expiry and the 24-hour
notification quota.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dev.fake_google.oauth import ServiceAccountRegistry, TokenStore
from dev.fake_google.quotas import NotificationQuota, RateQuota
from dev.fake_google.resources import WalletStore

LOG_LIMIT = 10_000  # most recent requests kept in the log (a benchmark makes many more)
COUNTERS = (
    "requests",  # REST calls under /walletobjects/v1, whatever their outcome
    "token_requests",  # POST /token, whatever their outcome
    "tokens_issued",
    "token_failures",
    "unauthenticated",  # 401: no, unknown or expired bearer token
    "forbidden",  # 403: missing scope or issuer not granted to the service account
    "rate_limited",  # 429 rateLimitExceeded from the per-issuer quota
    "notification_quota_refusals",  # 429 quotaExceeded from the notification limit
    "injected_failures",  # answers forced by configure(fail_next=...)
)
INJECTABLE_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class Limits:
    quota_rps: int  # requests per issuer in any one-second window; 0 = unlimited
    notification_limit: int  # TEXT_AND_NOTIFY messages per object per 24 h


@dataclass
class FaultRule:
    path_contains: str
    status: int
    remaining: int
    method: str | None = None  # any method when None

    def matches(self, method: str, path: str) -> bool:
        return self.path_contains in path and self.method in (None, method)


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str
    time: float
    status: int
    issuer: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _fault_rule(item: Mapping[str, Any]) -> FaultRule:
    status = int(item.get("status", 503))
    if status not in INJECTABLE_STATUSES:
        raise ValueError(f"fail_next status must be one of {sorted(INJECTABLE_STATUSES)}")
    method = item.get("method")
    return FaultRule(
        str(item.get("path_contains", "")),
        status,
        int(item.get("count", 1)),
        None if method is None else str(method).upper(),
    )


class FakeGoogleState:
    def __init__(self, *, quota_rps: int = 20, notification_limit: int = 3) -> None:
        self.lock = threading.Lock()
        self._defaults = Limits(quota_rps, notification_limit)
        # Kept across reset(): a client's cached token stays valid, as at Google.
        self.accounts = ServiceAccountRegistry()
        self.tokens = TokenStore()
        self._clear()

    def _clear(self) -> None:
        self.limits = Limits(**asdict(self._defaults))
        self.wallet = WalletStore()
        self.rates = RateQuota()
        self.notifications = NotificationQuota()
        self.faults: list[FaultRule] = []
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.log: deque[LogEntry] = deque(maxlen=LOG_LIMIT)
        self.clock_offset = 0.0
        self.issuer_accounts: dict[str, set[str]] = {}  # issuer -> allowed client_emails

    def now(self) -> float:
        """Wall-clock seconds on the fake's clock (see ``advance_clock_s``)."""
        return time.time() + self.clock_offset

    # -- used by request handlers, lock held ------------------------------------------

    def count(self, counter: str) -> None:
        self.counters[counter] += 1

    def take_fault(self, method: str, path: str) -> int | None:
        """The status to inject for this request, if a fail_next rule matches."""
        for rule in self.faults:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.faults.remove(rule)
                self.count("injected_failures")
                return rule.status
        return None

    def record(self, method: str, path: str, status: int, issuer: str | None = None) -> None:
        self.log.append(LogEntry(method, path, time.time(), status, issuer))

    def may_use_issuer(self, client_email: str, issuer: str) -> bool:
        allowed = self.issuer_accounts.get(issuer)
        return allowed is None or client_email in allowed

    # -- control surface ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget classes, objects, counters, faults and configuration changes; known
        service accounts and issued tokens stay."""
        with self.lock:
            self._clear()

    def configure(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Apply ``{"quota_rps", "notification_limit", "fail_next": [{"path_contains",
        "status", "count", "method"?}], "advance_clock_s", "issuer_accounts": {issuer:
        [client_email, ...]}}`` (any subset); returns the resulting configuration."""
        rules = [_fault_rule(item) for item in options.get("fail_next", ())]
        with self.lock:
            if "quota_rps" in options:
                self.limits.quota_rps = int(options["quota_rps"])
            if "notification_limit" in options:
                self.limits.notification_limit = int(options["notification_limit"])
            self.faults.extend(rules)
            self.clock_offset += float(options.get("advance_clock_s", 0.0))
            if "issuer_accounts" in options:
                self.issuer_accounts = {
                    str(issuer): {str(email) for email in emails}
                    for issuer, emails in options["issuer_accounts"].items()
                }
            return self._config()

    def _config(self) -> dict[str, Any]:
        return {
            **asdict(self.limits),
            "fail_next": [asdict(rule) for rule in self.faults],
            "clock_offset_s": self.clock_offset,
            "issuer_accounts": {k: sorted(v) for k, v in self.issuer_accounts.items()},
        }

    def snapshot(self, *, include_log: bool = True) -> dict[str, Any]:
        with self.lock:
            document: dict[str, Any] = {
                **self.wallet.to_json(),
                "counters": dict(self.counters),
                "issuers": self.rates.to_json(),
                "tokens_issued_by_email": dict(self.tokens.issued_by_email),
                "service_accounts": self.accounts.emails(),
                "config": self._config(),
            }
            if include_log:
                document["log"] = [entry.to_json() for entry in self.log]
            return document
