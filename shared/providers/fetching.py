"""Fetch a pass's external data from its tenant's providers (shared/providers/config.py).

One urllib3 `PoolManager` per process (`process_client()`): kept-alive connections, a pool as
large as the concurrency, and bounded retries (urllib3 `Retry`) of connection errors, read
timeouts and 502/503/504 answers with a small backoff. A batch fetches with a few threads.
urllib3 directly rather than a `requests.Session` over it: the same pool, retries and
timeouts at half the client CPU per call (docs/decisions/urllib3-providers.md).

A provider with a batch form (`[providers.batch]`) is called once per `max_ids` passes of a
batch (`fetch_batched`): its answers, parsed once, are keyed by (provider, identifier) and
each pass reads its own from them (`with_answers`), as a campaign, its preview and an import
do; an id the answer lacks fails that pass only. A batch request that fails as a whole (after
the same bounded retries) fails each of its passes with the reason, as one GET per pass would
have; it is not re-run per pass (a CRM that is down would only be hit harder).

Each provider's mapped fields are merged into one flat mapping (`external.<name>` in
templates; names are unique per tenant, checked when the config loads). Errors name the
provider and the reason only: never the URL (it holds the customer's identifier), the
answer's body or the auth header's value. External data is only returned, never stored.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

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
from shared.providers.config import BatchForm, ProviderConfig

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 8
MAX_ANSWER_BYTES = 1 << 20
MAX_BATCH_ANSWER_BYTES = 32 << 20  # up to 1,000 records of a batch form
NOT_IN_BATCH_ANSWER = "customer not found (absent from the batch answer)"
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


@dataclass(frozen=True)
class Missing:
    """A batch answer's verdict on one id: no record for it, and why."""

    reason: str


# (provider id, identifier as text) -> the provider's record for it, or Missing.
BatchAnswers = Mapping[tuple[str, str], Any]


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


def _needed_for(
    needed_by_pass_type: Mapping[str, Collection[str]] | None, document: Mapping[str, Any]
) -> Collection[str] | None:
    if needed_by_pass_type is None:
        return None
    return needed_by_pass_type.get(str(document.get("passType")), ())


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
            # POST: only a batch form's lookup, a read that is safe to send again.
            allowed_methods=frozenset({"GET", "POST"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=RETRY_BACKOFF_S,
            backoff_max=1.0,
            raise_on_status=False,  # the last answer comes back and is reported by status
            respect_retry_after_header=False,  # a CRM must not stall a batch for minutes
        )
        size = max(pool_size or 0, self.max_concurrency * 2)
        # No proxy or .netrc lookups from the environment: a PoolManager reads neither.
        self.pool = urllib3.PoolManager(num_pools=8, maxsize=size, retries=retry)
        self._answers: BatchAnswers = {}
        _install_redaction()

    def with_answers(self, answers: BatchAnswers) -> ExternalDataClient:
        """This client (the same pool) reading the providers' records from `answers` (from
        `fetch_batched`) before calling them; an identifier not in them is fetched as usual."""
        view = copy.copy(self)
        view._answers = answers
        return view

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
            value = provider.identifier_value(identifiers)
            if value is None:
                skipped.append(provider.id)
                continue
            answer = self._answers.get((provider.id, value), _NOT_FETCHED)
            if answer is _NOT_FETCHED:
                try:
                    answer = self._get(provider, provider.build_url(identifiers) or "")
                except _ProviderFailed as exc:
                    errors[provider.id] = str(exc)
                    continue
            elif isinstance(answer, Missing):
                errors[provider.id] = answer.reason
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
        """Each pass's external data, by pass id: providers with a batch form in one request
        per `max_ids` passes, the others one GET per pass, `max_concurrency` passes at a time
        (at most the client's own bound). `needed_by_pass_type` as `needed` above, per pass
        type (a pass type missing from it needs nothing: no call)."""
        documents = list(documents)
        workers = min(max_concurrency or self.max_concurrency, self.max_concurrency)
        if not providers or not documents:
            return {str(document["_id"]): ExternalResult() for document in documents}
        client = self
        if any(provider.batch is not None for provider in providers):
            answers = self.fetch_batched(
                providers, documents, needed_by_pass_type=needed_by_pass_type, workers=workers
            )
            client = self.with_answers({**self._answers, **answers})

        def one(document: Mapping[str, Any]) -> ExternalResult:
            needed = _needed_for(needed_by_pass_type, document)
            if needed is not None and not needed:
                return ExternalResult()
            return client.fetch_for_pass(providers, document, needed=needed)

        if all(p.batch is not None for p in providers):
            workers = 1  # every record is at hand already: threads would only cost CPU
        if workers <= 1 or len(documents) == 1:
            return {str(document["_id"]): one(document) for document in documents}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="external") as pool:
            results = list(pool.map(one, documents))
        return {
            str(document["_id"]): result
            for document, result in zip(documents, results, strict=True)
        }

    def fetch_batched(
        self,
        providers: Sequence[ProviderConfig],
        documents: Sequence[Mapping[str, Any]],
        *,
        needed_by_pass_type: Mapping[str, Collection[str]] | None = None,
        workers: int | None = None,
    ) -> dict[tuple[str, str], Any]:
        """The records of every provider with a batch form for the passes that need it: one
        request per `max_ids` distinct identifiers (several at once, `workers` at most). An
        id the answer lacks, or every id of a request that failed, maps to a `Missing`."""
        requests: list[tuple[ProviderConfig, BatchForm, list[str]]] = []
        for provider in providers:
            form = provider.batch
            if form is None:
                continue
            wanted: dict[str, None] = {}  # distinct, in the batch's order
            for document in documents:
                needed = _needed_for(needed_by_pass_type, document)
                if needed is not None and not any(name in needed for name in provider.fields):
                    continue
                if not provider.applies_to(str(document.get("passType", ""))):
                    continue
                value = provider.identifier_value(document.get("identifiers") or {})
                if value is not None:
                    wanted[value] = None
            ids = list(wanted)
            requests.extend(
                (provider, form, ids[start : start + form.max_ids])
                for start in range(0, len(ids), form.max_ids)
            )

        def one(request: tuple[ProviderConfig, BatchForm, list[str]]) -> dict[tuple[str, str], Any]:
            provider, form, ids = request
            try:
                records = self._batch(provider, form, ids)
            except _ProviderFailed as exc:
                failed = Missing(str(exc))
                return {(provider.id, value): failed for value in ids}
            missing, answers = Missing(NOT_IN_BATCH_ANSWER), {}
            for value in ids:
                record = records.get(value)  # a null answer is no record either
                answers[(provider.id, value)] = missing if record is None else record
            return answers

        bound = min(workers or self.max_concurrency, self.max_concurrency, len(requests))
        if bound <= 1:
            parts = [one(request) for request in requests]
        else:
            with ThreadPoolExecutor(max_workers=bound, thread_name_prefix="external") as pool:
                parts = list(pool.map(one, requests))
        answers: dict[tuple[str, str], Any] = {}
        for part in parts:
            answers.update(part)
        return answers

    def _batch(self, provider: ProviderConfig, form: BatchForm, ids: list[str]) -> dict[str, Any]:
        """One batch request for `ids`: its answers by id (as text)."""
        url, body = form.url, None
        headers = self._headers(provider)
        if form.ids_body_field is not None:
            body = json.dumps({form.ids_body_field: ids}).encode()
            headers["Content-Type"] = "application/json"
        else:
            param = form.ids_query_param or "id"  # one of the two is set (config.py checks)
            query = urlencode([(param, value) for value in ids])
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        answer = self._call(
            provider,
            form.method,
            url,
            headers=headers,
            timeout_s=form.timeout_s,
            body=body,
            limit=MAX_BATCH_ANSWER_BYTES,
        )
        return _answers_by_id(answer, form)

    def _headers(self, provider: ProviderConfig) -> dict[str, str]:
        headers = dict(_BASE_HEADERS)
        if provider.auth_header is not None:
            value = provider.auth_value(self.environ)
            if value is None:
                raise _ProviderFailed(f"environment variable {provider.auth_env} is not set")
            headers[provider.auth_header] = value
        return headers

    def _get(self, provider: ProviderConfig, url: str) -> Any:
        headers = self._headers(provider)
        return self._call(
            provider,
            "GET",
            url,
            headers=headers,
            timeout_s=provider.timeout_s,
            body=None,
            limit=MAX_ANSWER_BYTES,
        )

    @metrics.external_data_call
    def _call(
        self,
        provider: ProviderConfig,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        timeout_s: float,
        body: bytes | None,
        limit: int,
    ) -> Any:
        """One request; its JSON answer, or _ProviderFailed with a reason safe to show."""
        _calling.active = True
        try:
            response = self.pool.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
                preload_content=False,
                redirect=False,
            )
            try:
                status = response.status
                ok = 200 <= status < 300
                raw = _read_bounded(response, limit) if ok else _discard(response)
            finally:
                response.release_conn()
        except HTTPError as exc:
            raise _ProviderFailed(_reason(exc, timeout_s)) from None
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
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise _ProviderFailed("the answer is not valid JSON") from None


_NOT_FETCHED = object()


def _answers_by_id(answer: Any, form: BatchForm) -> dict[str, Any]:
    """A batch answer's records by id (as text): a map id → record at `answers`, or a list
    of records each holding its id at `answer_key`."""
    where = ".".join(form.answers_path) or "the top level"
    found, records = (
        extract(answer, ".".join(form.answers_path))
        if form.answers_path
        else (
            True,
            answer,
        )
    )
    if form.answer_key is None:
        if not found or not isinstance(records, dict):
            raise _ProviderFailed(f"the batch answer has no map of answers at {where}")
        return records
    if not found or not isinstance(records, list):
        raise _ProviderFailed(f"the batch answer has no list of answers at {where}")
    keyed: dict[str, Any] = {}
    key_path = ".".join(form.answer_key)
    for record in records:
        has_key, key = extract(record, key_path)
        if has_key and not isinstance(key, bool) and isinstance(key, str | int | float):
            keyed[str(key)] = record
    return keyed


def _read_bounded(response: urllib3.BaseHTTPResponse, limit: int = MAX_ANSWER_BYTES) -> bytes:
    body = response.read(limit + 1)
    if len(body) > limit:
        response.close()  # the rest is never read: the connection is not reused
        raise _ProviderFailed(f"the answer is larger than {limit} bytes")
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
