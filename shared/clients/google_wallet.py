"""Google Wallet REST client (walletobjects v1) for one issuer's service account.

Authentication is google-auth's service-account flow (a JWT-bearer assertion signed with the
account's key, exchanged at the token URI for an access token); the credentials object keeps
the token and refreshes it only when it is near expiry, so a worker asks for a token about
once an hour per issuer. Token URI and API base URL are configurable, which is how tests point
the production code at the fake server.

Every REST call first takes a slot from the issuer's limiter, which is shared by every worker
process through Redis (Google's quota is per issuer, not per process). 429 and 5xx answers and
connection errors are retried with jittered exponential backoff; other errors are raised as
GoogleApiError with Google's status and reason.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

from shared.infra import metrics

log = logging.getLogger(__name__)

WALLET_SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
KINDS = ("loyalty", "offer", "giftCard", "eventTicket", "generic")
_TIMEOUT_S = (5.0, 20.0)
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class Limiter(Protocol):
    def acquire(self) -> float:
        """Block until a call may go; the seconds waited."""
        ...


class GoogleApiError(Exception):
    """Google refused a call (after retries when the error was transient)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"Google Wallet API {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class GoogleAuthFailed(GoogleApiError):
    """No access token: the service account was refused or the token URI is unreachable."""


@dataclass
class CallStats:
    """What this client's calls cost, for an operation's pacing figures."""

    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 16.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.cap_s)
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))  # noqa: S311 (jitter)


class GoogleWalletClient:
    def __init__(
        self,
        service_account_info: Mapping[str, Any],
        *,
        api_base_url: str,
        limiter: Limiter,
        token_uri: str | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        info = dict(service_account_info)
        if token_uri:
            info["token_uri"] = token_uri
        self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[WALLET_SCOPE]
        )
        self._base = api_base_url.rstrip("/") + "/walletobjects/v1"
        self._limiter = limiter
        self._session = session or requests.Session()
        self._auth_request = AuthRequest(self._session)
        self._retry = retry
        self._sleep = sleep
        self.stats = CallStats()

    # Classes and objects -------------------------------------------------------------

    def insert_class(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/{_kind(kind)}Class", body)

    def get_class(self, kind: str, class_id: str) -> dict[str, Any]:
        return self._call("GET", f"/{_kind(kind)}Class/{_id(class_id)}")

    def patch_class(self, kind: str, class_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/{_kind(kind)}Class/{_id(class_id)}", body)

    def insert_object(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/{_kind(kind)}Object", body)

    def get_object(self, kind: str, object_id: str) -> dict[str, Any]:
        return self._call("GET", f"/{_kind(kind)}Object/{_id(object_id)}")

    def patch_object(self, kind: str, object_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/{_kind(kind)}Object/{_id(object_id)}", body)

    def add_message(self, kind: str, object_id: str, message: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/{_kind(kind)}Object/{_id(object_id)}/addMessage"
        return self._call("POST", path, {"message": dict(message)})

    def add_class_message(
        self, kind: str, class_id: str, message: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A message on the class: Google shows it on every object of the class (and, as
        TEXT_AND_NOTIFY, notifies every holder who saved one)."""
        path = f"/{_kind(kind)}Class/{_id(class_id)}/addMessage"
        return self._call("POST", path, {"message": dict(message)})

    # Transport -----------------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        for attempt in range(self._retry.attempts):
            headers = {"Authorization": f"Bearer {self._token()}"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            self.stats.waited_s += metrics.google_quota_waited(self._limiter.acquire())
            self.stats.requests += 1
            try:
                response = self._session.request(
                    method, self._base + path, data=data, headers=headers, timeout=_TIMEOUT_S
                )
            except requests.RequestException as exc:
                metrics.count_google_request(None)
                if attempt + 1 == self._retry.attempts:
                    raise GoogleApiError(0, "unreachable", type(exc).__name__) from exc
                self._back_off(attempt, None, f"{type(exc).__name__}")
                continue
            metrics.count_google_request(response.status_code)
            if response.status_code < 300:
                answer: dict[str, Any] = response.json() if response.content else {}
                return answer
            error = _error_of(response)
            if response.status_code == 401 and attempt == 0:
                self._credentials.token = None  # revoked or expired early: fetch a new one
                continue
            if _transient(error) and attempt + 1 < self._retry.attempts:
                self._back_off(attempt, response.headers.get("Retry-After"), error.reason)
                continue
            raise error
        raise AssertionError("unreachable")  # the loop returns or raises

    def _back_off(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = self._retry.delay(attempt, retry_after)
        log.info("Google Wallet call retried in %.2f s (%s)", delay, why)
        self.stats.retries += 1
        self.stats.waited_s += delay
        self._sleep(delay)

    def _token(self) -> str:
        credentials = self._credentials
        if not credentials.valid:  # no token yet, or within google-auth's refresh margin
            try:
                credentials.refresh(self._auth_request)
            except (GoogleAuthError, requests.RequestException) as exc:
                raise GoogleAuthFailed(401, "auth", _auth_reason(exc)) from exc
        token: str = credentials.token
        return token


def _transient(error: GoogleApiError) -> bool:
    # Google's notification quota is a 429 too, but waiting does not lift it for a day.
    return error.status in _RETRIED_STATUSES and error.reason != "quotaExceeded"


def _error_of(response: requests.Response) -> GoogleApiError:
    try:
        payload = response.json()["error"]
        errors = payload.get("errors") or [{}]
        reason = str(errors[0].get("reason") or payload.get("status") or "error")
        message = str(payload.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        reason, message = "error", response.text[:200]
    return GoogleApiError(response.status_code, reason, message)


def _auth_reason(exc: Exception) -> str:
    # google-auth's message carries the token endpoint's error text, never the key.
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown Google Wallet kind {kind!r}")
    return kind


def _id(resource_id: str) -> str:
    return quote(resource_id, safe="")
