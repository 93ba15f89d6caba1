"""`Idempotency-Key` on POST, PUT and PATCH: a repeat within 24 h gets the original answer (and
so the original correlationId) instead of doing the work twice. PUT too: `PUT …/notification`
sends its message again on every request, so a client retrying after a lost answer needs it.

The key is claimed atomically before the view runs. The same key with a different request
gets 422; while the first request is still running a repeat gets 409. Server errors release
the key so the client can retry.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from flask import Response, g, request

from api import services
from api.errors import ApiError
from shared.infra.clock import utcnow
from shared.repositories import idempotency as repo

HEADER = "Idempotency-Key"
WINDOW = timedelta(hours=24)
_METHODS = {"POST", "PUT", "PATCH"}
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_REPLAYED_HEADERS = ("Location",)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(record: dict[str, Any]) -> Response:
    stored = record["response"]
    response = Response(stored["body"], status=stored["status"], mimetype="application/json")
    for name, value in stored.get("headers", {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def claim_or_replay() -> Response | None:
    """Called once the caller is authenticated and holds the view's scope (requires_scope):
    a caller who may not do the request can neither claim a key nor see an answer."""
    key = request.headers.get(HEADER)
    if key is None or request.method not in _METHODS:
        return None
    if not _KEY.fullmatch(key):
        raise ApiError(
            400,
            "Invalid Idempotency-Key.",
            errors=[{"field": HEADER, "reason": "1 to 255 visible ASCII characters"}],
        )
    db = services.database()
    # Per credential: one caller's key never replays, or blocks, another caller's request.
    record_id = f"{g.tenant.id}:{g.principal.credential}:{key}"
    fingerprint, now = _fingerprint(), utcnow()
    existing = repo.claim(db, record_id, fingerprint, now)
    if existing is not None and existing["createdAt"] < now - WINDOW:
        repo.release(db, record_id, created_before=now - WINDOW)
        existing = repo.claim(db, record_id, fingerprint, now)
    if existing is None:
        g.idempotency_record = record_id
        return None
    if existing["fingerprint"] != fingerprint:
        raise ApiError(
            422,
            "This Idempotency-Key was used for a different request.",
            errors=[{"field": HEADER, "reason": "reused with another method, path or body"}],
        )
    if existing["state"] != "completed":
        raise ApiError(
            409,
            "A request with this Idempotency-Key is still being processed.",
            errors=[{"field": HEADER, "reason": "in progress"}],
        )
    return _replay(existing)


def after_request(response: Response) -> Response:
    record_id = g.pop("idempotency_record", None)
    if record_id is None:
        return response
    db = services.database()
    if response.status_code >= 500 or response.status_code in {401, 403} or not response.is_json:
        repo.release(db, record_id)  # let the client retry; only JSON answers are replayed
        return response
    body = response.get_data(as_text=True)
    headers = {
        name: response.headers[name] for name in _REPLAYED_HEADERS if name in response.headers
    }
    repo.complete(db, record_id, {"status": response.status_code, "body": body, "headers": headers})
    return response
