"""Fetch a pass's external data from its tenant's providers (shared/providers/config.py).

One urllib3 `PoolManager` per process (`process_client()`): kept-alive connections, a pool as
large as the concurrency, and bounded retries (urllib3 `Retry`) of connection errors, read
timeouts and 502/503/504 answers with a small backoff. A batch fetches with a few threads.
urllib3 directly rather than a `requests.Session` over it: the same pool, retries and
timeouts at half the client CPU per call (docs/decisions/urllib3-providers.md).

Each provider's mapped fields are merged into one flat mapping (`external.<name>` in
templates; names are unique per tenant, checked when the config loads). Errors name the
provider and the reason only: never the URL (it holds the customer's identifier), the
answer's body or the auth header's value. External data is only returned, never stored.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ResponseError,
    TimeoutError,
)
from urllib3.util.retry import Retry

from shared.infra import metrics, process_clients
from shared.providers.config import ProviderConfig

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 8
MAX_ANSWER_BYTES = 1 << 20
_ERROR_BODY_BYTES = 64 * 1024  # read and dropped to reuse the connection; longer: closed
# Attempts per request: 1 + at most 2 retries, connection, read and 502/503/504 together.
RETRIES = 2
RETRY_BACKOFF_S = 0.05
RETRY_STATUSES = (502, 503, 504)
USER_AGENT = "passwire-external-data/1"
_BASE_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json"}


@dataclass(frozen=True)
class ExternalResult:
    """A pass's external data: merged fields, the reason per provider that failed, and the
    providers skipped because the pass lacks their identifier."""

    data: dict[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()

    @property
    def error(self) -> str | None:
        """Every failure in one line ("external data provider 'crm': timed out"), or None."""
        if not self.errors:
            return None
        return "; ".join(
            f"external data provider '{provider}': {reason}"
            for provider, reason in self.errors.items()
        )


class _ProviderFailed(Exception):
    pass


_calling = threading.local()


class _RedactPaths(logging.Filter):
    """urllib3 logs each request's path (DEBUG) and each retry (WARNING): while this thread
    calls a provider, the path (holding the customer's identifier) is replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_calling, "active", False) and isinstance(record.args, tuple):
            record.args = tuple(
                "<path redacted>" if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


_REDACT_PATHS = _RedactPaths()


def _install_redaction() -> None:
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
        logger = logging.getLogger(name)
        if _REDACT_PATHS not in logger.filters:
            logger.addFilter(_REDACT_PATHS)


def providers_for(
    providers: Iterable[ProviderConfig], pass_type: str, needed: Collection[str] | None = None
) -> tuple[ProviderConfig, ...]:
    """The providers serving `pass_type`; with `needed` (the external names a template
    reads), only those mapping one of them."""
    return tuple(
        provider
        for provider in providers
        if provider.applies_to(pass_type)
        and (needed is None or any(name in needed for name in provider.fields))
    )


def extract(answer: Any, path: str) -> tuple[bool, Any]:
    """(True, value) at the dotted `path` of a JSON answer, or (False, None) when absent."""
    value = answer
    for segment in path.split("."):
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return False, None
    return True, value


class ExternalDataClient:
    """Calls providers over one shared connection pool. Thread-safe for concurrent GETs."""

    def __init__(
        self,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        pool_size: int | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.environ = environ
        retry = Retry(
            total=RETRIES,
            connect=RETRIES,
            read=RETRIES,
            status=RETRIES,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=RETRY_BACKOFF_S,
            backoff_max=1.0,
            raise_on_status=False,  # the last answer comes back and is reported by status
            respect_retry_after_header=False,  # a CRM must not stall a batch for minutes
        )
        size = max(pool_size or 0, self.max_concurrency * 2)
        # No proxy or .netrc lookups from the environment: a PoolManager reads neither.
        self.pool = urllib3.PoolManager(num_pools=8, maxsize=size, retries=retry)
        _install_redaction()

    def close(self) -> None:
        self.pool.clear()

    def fetch_for_pass(
        self,
        providers: Iterable[ProviderConfig],
        document: Mapping[str, Any],
        *,
        needed: Collection[str] | None = None,
    ) -> ExternalResult:
        """The external data of one pass from the providers serving its pass type. With
        `needed`, only providers mapping one of those names are called and only those names
        are kept (what a template reads, nothing more)."""
        data: dict[str, Any] = {}
        errors: dict[str, str] = {}
        skipped: list[str] = []
        identifiers = document.get("identifiers") or {}
        for provider in providers_for(providers, str(document.get("passType", "")), needed):
            url = provider.build_url(identifiers)
            if url is None:
                skipped.append(provider.id)
                continue
            try:
                answer = self._get(provider, url)
            except _ProviderFailed as exc:
                errors[provider.id] = str(exc)
                continue
            for name, path in provider.fields.items():
                if needed is not None and name not in needed:
                    continue
                found, value = extract(answer, path)
                if found:
                    data[name] = value
        return ExternalResult(data=data, errors=errors, skipped=tuple(skipped))

    def fetch_for_passes(
        self,
        providers: Sequence[ProviderConfig],
        documents: Iterable[Mapping[str, Any]],
        *,
        max_concurrency: int | None = None,
        needed_by_pass_type: Mapping[str, Collection[str]] | None = None,
    ) -> dict[str, ExternalResult]:
        """Each pass's external data, by pass id, fetched `max_concurrency` passes at a time
        (at most the client's own bound). `needed_by_pass_type` as `needed` above, per pass
        type (a pass type missing from it needs nothing: no call)."""
        documents = list(documents)
        workers = min(max_concurrency or self.max_concurrency, self.max_concurrency)

        def one(document: Mapping[str, Any]) -> ExternalResult:
            needed: Collection[str] | None = None
            if needed_by_pass_type is not None:
                needed = needed_by_pass_type.get(str(document.get("passType")), ())
            if needed is not None and not needed:
                return ExternalResult()
            return self.fetch_for_pass(providers, document, needed=needed)

        if not providers or not documents:
            return {str(document["_id"]): ExternalResult() for document in documents}
        if workers <= 1 or len(documents) == 1:
            return {str(document["_id"]): one(document) for document in documents}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="external") as pool:
            results = list(pool.map(one, documents))
        return {
            str(document["_id"]): result
            for document, result in zip(documents, results, strict=True)
        }

    @metrics.external_data_call
    def _get(self, provider: ProviderConfig, url: str) -> Any:
        headers = dict(_BASE_HEADERS)
        if provider.auth_header is not None:
            value = provider.auth_value(self.environ)
            if value is None:
                raise _ProviderFailed(f"environment variable {provider.auth_env} is not set")
            headers[provider.auth_header] = value
        _calling.active = True
        try:
            response = self.pool.request(
                "GET",
                url,
                headers=headers,
                timeout=urllib3.Timeout(connect=provider.timeout_s, read=provider.timeout_s),
                preload_content=False,
                redirect=False,
            )
            try:
                status = response.status
                body = _read_bounded(response) if 200 <= status < 300 else _discard(response)
            finally:
                response.release_conn()
        except HTTPError as exc:
            raise _ProviderFailed(_reason(exc, provider.timeout_s)) from None
        except (ValueError, UnicodeError):
            # http.client refuses a header value with a newline or outside latin-1, quoting
            # it: never the message, it holds the auth value.
            raise _ProviderFailed(
                "request failed (the auth header's value or the URL cannot be sent)"
            ) from None
        finally:
            _calling.active = False
        if status == 404:
            raise _ProviderFailed("customer not found")
        if status in (401, 403):
            raise _ProviderFailed(f"refused the credentials (HTTP {status})")
        if not 200 <= status < 300:
            raise _ProviderFailed(f"answered HTTP {status}")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise _ProviderFailed("the answer is not valid JSON") from None


def _read_bounded(response: urllib3.BaseHTTPResponse) -> bytes:
    body = response.read(MAX_ANSWER_BYTES + 1)
    if len(body) > MAX_ANSWER_BYTES:
        response.close()  # the rest is never read: the connection is not reused
        raise _ProviderFailed(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    return body


def _discard(response: urllib3.BaseHTTPResponse) -> bytes:
    """Read an error answer's body (unused) so the kept-alive connection can serve the next
    call; a long one closes the connection instead. Unread, its bytes would be taken for the
    next answer's status line on the reused connection."""
    try:
        if len(response.read(_ERROR_BODY_BYTES + 1)) <= _ERROR_BODY_BYTES:
            return b""
    except HTTPError:
        pass
    response.close()
    return b""


def _reason(exc: HTTPError, timeout_s: float) -> str:
    """Why a call failed, in words safe to show (no URL: it holds the identifier)."""
    cause = exc.reason if isinstance(exc, MaxRetryError) else exc
    if isinstance(cause, ResponseError):
        return "kept failing after retries"  # 502/503/504 on every attempt
    if isinstance(cause, NewConnectionError):  # (a subclass of the connect timeout)
        return "cannot connect"
    if isinstance(cause, TimeoutError):
        return f"timed out (timeout_s = {timeout_s})"
    if isinstance(exc, MaxRetryError):
        return "cannot connect"  # the connection broke on every attempt
    return f"request failed ({type(cause).__name__})"


def process_client() -> ExternalDataClient:
    """This process's client, made on first use (a forked worker child makes its own: pooled
    connections are never shared across processes)."""
    return process_clients.get(("external-data",), ExternalDataClient)


def fetch_for_pass(
    providers: Iterable[ProviderConfig],
    document: Mapping[str, Any],
    *,
    needed: Collection[str] | None = None,
) -> ExternalResult:
    """`ExternalDataClient.fetch_for_pass` with this process's client."""
    return process_client().fetch_for_pass(providers, document, needed=needed)


def fetch_for_passes(
    providers: Sequence[ProviderConfig],
    documents: Iterable[Mapping[str, Any]],
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    needed_by_pass_type: Mapping[str, Collection[str]] | None = None,
) -> dict[str, ExternalResult]:
    """`ExternalDataClient.fetch_for_passes` with this process's client."""
    return process_client().fetch_for_passes(
        providers,
        documents,
        max_concurrency=max_concurrency,
        needed_by_pass_type=needed_by_pass_type,
    )
