"""Google's root signing keys for Wallet callbacks: fetched over HTTP, cached in-process.

Google rotates these keys rarely and announces each one's expiration, so one fetch an hour is
plenty. The cache fetches sooner when every key it holds has expired, or when a callback was
signed by a root key it does not know (a rotation); either way at most once a minute, so
forged callbacks cannot make us hammer Google.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from shared.google.callbacks import (
    REASON_NO_ROOT_SIGNATURE,
    SENDER_ID,
    CallbackMessage,
    CallbackRejected,
    RootKey,
    parse_root_keys,
    verify_callback,
)

GOOGLE_ROOT_KEYS_URL = "https://pay.google.com/gp/m/issuer/keys"
DEFAULT_TTL_SECONDS = 3600.0
MIN_REFETCH_INTERVAL_SECONDS = 60.0
FETCH_TIMEOUT_SECONDS = 5.0
# The real document is well under 1 KiB.
MAX_DOCUMENT_BYTES = 256 * 1024


class RootKeysUnavailable(Exception):
    """The root keys could not be fetched; answer 503 so that Google retries the callback."""


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class RootKeyCache:
    """The current root keys document, shared by the threads of one process."""

    def __init__(
        self,
        url: str = GOOGLE_ROOT_KEYS_URL,
        *,
        session: requests.Session | None = None,
        ttl: float = DEFAULT_TTL_SECONDS,
        min_refetch_interval: float = MIN_REFETCH_INTERVAL_SECONDS,
        timeout: float = FETCH_TIMEOUT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        now_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        self._url = url
        self._session = session or requests.Session()
        self._ttl = ttl
        self._min_refetch_interval = min_refetch_interval
        self._timeout = timeout
        self._monotonic = monotonic
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._keys: list[RootKey] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None

    def keys(self) -> list[RootKey]:
        """The cached keys, refetched when due; RootKeysUnavailable when there are none."""
        with self._lock:
            if self._keys is None or not self._any_current(self._keys):
                return self._fetch_if_allowed()
            if self._monotonic() - self._fetched_at >= self._ttl and self._may_fetch():
                try:
                    return self._fetch()
                except RootKeysUnavailable:
                    pass  # the cached keys are still within their own expiration: keep them
            return list(self._keys)

    def refresh(self) -> bool:
        """Refetch now unless the last fetch was under a minute ago; True when refetched.

        For a callback no cached root key verified: Google may have rotated its keys.
        """
        with self._lock:
            if not self._may_fetch():
                return False
            self._fetch()
            return True

    def _fetch_if_allowed(self) -> list[RootKey]:
        if not self._may_fetch():
            raise RootKeysUnavailable("no current root keys and the last fetch is too recent")
        return self._fetch()

    def _may_fetch(self) -> bool:
        return (
            self._attempted_at is None
            or self._monotonic() - self._attempted_at >= self._min_refetch_interval
        )

    def _any_current(self, keys: list[RootKey]) -> bool:
        now_ms = self._now_ms()
        return any(key.is_valid_at(now_ms) for key in keys)

    def _fetch(self) -> list[RootKey]:
        self._attempted_at = self._monotonic()
        keys = parse_root_keys(_fetch_document(self._session, self._url, self._timeout))
        if not self._any_current(keys):
            raise RootKeysUnavailable(f"{self._url} lists no current ECv2SigningOnly key")
        self._keys = keys
        self._fetched_at = self._attempted_at
        return list(keys)


def _fetch_document(session: requests.Session, url: str, timeout: float) -> Mapping[str, Any]:
    """The JSON object at `url`, read within `timeout` and MAX_DOCUMENT_BYTES."""
    deadline = time.monotonic() + timeout
    try:
        with session.get(
            url, timeout=timeout, stream=True, headers={"Accept": "application/json"}
        ) as response:
            if response.status_code != 200:
                raise RootKeysUnavailable(f"{url} answered HTTP {response.status_code}")
            raw = bytearray()
            for chunk in response.iter_content(chunk_size=16 * 1024):
                raw += chunk
                # requests' timeout bounds each read; this bounds the whole answer.
                if len(raw) > MAX_DOCUMENT_BYTES or time.monotonic() > deadline:
                    raise RootKeysUnavailable(f"{url} answered too much or too slowly")
    except requests.RequestException as error:
        raise RootKeysUnavailable(f"{url} unreachable ({type(error).__name__})") from None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise RootKeysUnavailable(f"{url} answered something other than JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise RootKeysUnavailable(f"{url} answered JSON without a 'keys' list")
    return document


def verify_with_root_key_cache(
    body: bytes | Mapping[str, Any],
    *,
    cache: RootKeyCache,
    recipient_id: str,
    now_ms: int,
    sender_id: str = SENDER_ID,
) -> CallbackMessage:
    """verify_callback with the cached keys, refetching them once if no root key matched.

    Raises CallbackRejected (answer 400) or RootKeysUnavailable (answer 503).
    """
    try:
        return verify_callback(
            body,
            root_keys=cache.keys(),
            recipient_id=recipient_id,
            now_ms=now_ms,
            sender_id=sender_id,
        )
    except CallbackRejected as rejected:
        if rejected.reason != REASON_NO_ROOT_SIGNATURE or not cache.refresh():
            raise
    return verify_callback(
        body, root_keys=cache.keys(), recipient_id=recipient_id, now_ms=now_ms, sender_id=sender_id
    )
