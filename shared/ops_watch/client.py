"""Reading one operation over the HTTP API, as any caller would (`X-API-Key`), so the watcher
needs no database access and works against a remote deployment."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

REQUEST_TIMEOUT_S = 10.0


class WatchError(Exception):
    """The operation could not be read. `retryable`: worth asking again (the API or the
    network hiccuped); otherwise asking again gets the same answer (unknown operation, bad
    key)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _api_message(response: requests.Response) -> str:
    """The error envelope's message and field reasons, else the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    reasons = [
        f"{error.get('field')}: {error.get('reason')}"
        for error in body.get("errors") or []
        if isinstance(error, dict)
    ]
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    return f"HTTP {response.status_code}: {body['message']}{detail}"


class OperationClient:
    def __init__(
        self,
        base_url: str,
        tenant_id: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self._base = f"{base_url.rstrip('/')}/api/{quote(tenant_id, safe='')}/operations"
        self._session = session or requests.Session()
        self._session.headers["X-API-Key"] = api_key
        self._session.headers["Accept"] = "application/json"

    def url(self, correlation_id: str) -> str:
        return f"{self._base}/{quote(correlation_id, safe='')}"

    def fetch(self, correlation_id: str) -> dict[str, Any]:
        url = self.url(correlation_id)
        try:
            response = self._session.get(url, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as exc:
            # The class names the problem (ConnectionError, ReadTimeout); its text repeats
            # the URL, which the caller prints anyway, inside urllib3's retry wording.
            raise WatchError(
                f"cannot reach the API ({type(exc).__name__})", retryable=True
            ) from exc
        if response.status_code != 200:
            # 429 and 5xx pass (a busy or restarting API); 4xx will not change by asking again.
            retryable = response.status_code == 429 or response.status_code >= 500
            raise WatchError(_api_message(response), retryable=retryable)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise WatchError(f"{url} did not answer with an operation", retryable=False)
        return body
