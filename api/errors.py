"""One JSON error envelope for every 4xx/5xx answer:

{"status": 422, "code": "validation_failed", "message": "...",
 "errors": [{"field": "identifiers.crm", "reason": "Not a valid string."}]}
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask, Response, jsonify
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from shared.repositories import DatabaseUnavailable

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class FieldErrorSchema(Schema):
    field = fields.String(
        required=True,
        metadata={"description": "Dotted path of the field, parameter or header at fault."},
    )
    reason = fields.String(required=True)


class ErrorSchema(Schema):
    status = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    code = fields.String(
        required=True,
        metadata={
            "description": "Machine-readable: "
            + ", ".join(sorted({*_CODES.values(), "not_ready"}))
            + " (more may be added)."
        },
    )
    message = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema))


# What each error answer means in the OpenAPI document; views may say more precisely.
ERROR_DESCRIPTIONS = {
    400: "Malformed request: the body is not valid JSON, holds a lone UTF-16 surrogate or an "
    "integer of over 4,300 digits, or is nested too deeply, or a header is invalid; `errors` "
    "names what.",
    401: "Missing or invalid credential.",
    403: "The credential is of another tenant or lacks the scope.",
    404: "Unknown tenant.",
    409: "A request with this Idempotency-Key is still being processed.",
    413: "The request body is too large.",
    415: "The body is not `application/json`.",
    422: "Invalid parameters or body; `errors` names each field.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    503: "A dependency (database or job queue) is unavailable; nothing was done.",
}

# Every `/api/<tenantId>/...` operation: credential (401), tenant or scope (403, 404) and
# database (503); those taking a JSON body (POST, PUT, PATCH) add 400, 409 (Idempotency-Key),
# 413, 415 and 422.
TENANT_API_ERRORS = (401, 403, 404, 503)
JSON_BODY_ERRORS = (400, 409, 413, 415, 422)


def error_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> Callable[[F], F]:
    """Declare a view's error answers in the OpenAPI document, each with the envelope.

    `descriptions` overrides the text per status (`{404: "Unknown tenant or pass."}`). Put it
    above every other decorator of the view: it completes what they documented (the 401/403
    of `requires_scope` keep their text; the 422 of `@blp.arguments` gets the precise one)
    without declaring a status twice. Only documents: what a view answers is unchanged."""
    texts = dict(descriptions or {})
    if unknown := set(statuses) - set(ERROR_DESCRIPTIONS):
        raise ValueError(f"no error description for {sorted(unknown)}")
    if extra := set(texts) - set(statuses):
        raise ValueError(f"descriptions of undeclared statuses {sorted(extra)}")

    def decorate(view: F) -> F:
        apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
        # flask-smorest keys the statuses its decorators document by int, manual docs (and
        # requires_scope) by str: reuse the key already there so none appears twice.
        by_decorators = {
            int(code)
            for section in ("arguments", "response")
            for code in apidoc.get(section, {}).get("responses", {})
            if str(code).isdigit()
        }
        responses = apidoc.setdefault("manual_doc", {}).setdefault("responses", {})
        for status in statuses:
            existing = responses.pop(str(status), None) or responses.pop(status, None)
            entry = dict(existing) if isinstance(existing, Mapping) else {}
            if status in texts or "description" not in entry:
                entry["description"] = texts.get(status, ERROR_DESCRIPTIONS[status])
            entry["content"] = {"application/json": {"schema": ErrorSchema}}
            responses[status if status in by_decorators else str(status)] = entry
        view._apidoc = apidoc  # type: ignore[attr-defined]
        return view

    return decorate


class ApiError(HTTPException):
    """A domain refusal with its HTTP status, an error code and optional field errors."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.error_code = code or _CODES.get(status, "error")
        self.field_errors = errors or []


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten marshmallow/webargs messages into [{field, reason}] with dotted field paths."""
    if isinstance(messages, dict):
        out: list[dict[str, str]] = []
        for key, value in messages.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            out.extend(field_errors(value, name))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"field": prefix or "body", "reason": " ".join(messages)}]
    if isinstance(messages, list):
        return [e for item in messages for e in field_errors(item, prefix)]
    return [{"field": prefix or "body", "reason": str(messages)}]


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> tuple[Response, int]:
    body: dict[str, Any] = {
        "status": status,
        "code": code or _CODES.get(status, "error"),
        "message": message,
        "errors": errors or [],
    }
    return jsonify(body), status


def _webargs_errors(exc: HTTPException) -> list[dict[str, str]]:
    # flask-smorest/webargs put {"messages": {location: {field: [reasons]}}} on the exception.
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, dict):
        return []
    return [error for per_location in messages.values() for error in field_errors(per_location)]


def _respond(
    exc: HTTPException, status: int, message: str, errors: list[dict[str, str]]
) -> tuple[Response, int]:
    response, _ = error_response(status, message, errors=errors)
    # Keep what the exception says in headers (e.g. `Allow` on 405, `Retry-After` on 429).
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


def handle_http_exception(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    if isinstance(exc, ApiError):
        return error_response(
            status, exc.description or "", code=exc.error_code, errors=exc.field_errors
        )
    errors = _webargs_errors(exc)
    if status == 413:
        errors = errors or [{"field": "body", "reason": "the request body is too large"}]
        return _respond(exc, 413, "The request body is too large.", errors)
    if status == 400 and any(e["field"] == "body" for e in errors):
        errors = [{"field": "body", "reason": "the body is not valid JSON"}]
        return _respond(exc, 400, "The request body is not valid JSON.", errors)
    if status == 422:
        return _respond(exc, 422, "The request is invalid.", errors)
    return _respond(exc, status, exc.description or exc.name, errors)


def handle_too_deep(_: RecursionError) -> tuple[Response, int]:
    # json.loads recurses once per nesting level: a hostile body can exhaust the stack.
    errors = [{"field": "body", "reason": "nested too deeply"}]
    return error_response(400, "The request body is nested too deeply.", errors=errors)


def handle_database_unavailable(exc: DatabaseUnavailable) -> tuple[Response, int]:
    log.error("database unavailable: %s", type(exc).__name__)
    return error_response(503, "The database is unavailable; nothing was done.")


def handle_unexpected(exc: Exception) -> tuple[Response, int]:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(RecursionError, handle_too_deep)
    app.register_error_handler(DatabaseUnavailable, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
