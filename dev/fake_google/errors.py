"""Replies of the fake, and errors in the shape Google's JSON APIs answer them.

Google's error body: ``{"error": {"code", "message", "status", "errors": [{"message",
"domain", "reason"}]}}``; clients key on ``code``, ``status`` and ``errors[0].reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Canonical gRPC status names Google puts next to each HTTP code.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DEFAULT_REASONS = {
    400: "invalid",
    401: "authError",
    403: "forbidden",
    404: "resourceNotFound",
    405: "methodNotAllowed",
    409: "duplicate",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}
DEFAULT_MESSAGES = {
    500: "Internal error encountered.",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
    504: "Deadline exceeded.",
    429: "Quota exceeded for quota metric 'Requests' and limit 'Requests per second'.",
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


class GoogleApiError(Exception):
    """Raised anywhere in request handling; becomes a Google-shaped error reply."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, "Error.")
        self.reason = reason or DEFAULT_REASONS.get(code, "unknown")
        self.headers = headers or {}
        super().__init__(self.message)

    def reply(self) -> Reply:
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
                "status": STATUS_NAMES.get(self.code, "UNKNOWN"),
            }
        }
        return Reply(self.code, body, self.headers)


def injected_error(status: int) -> GoogleApiError:
    """What Google sends for a status a test asked the fake to inject."""
    return GoogleApiError(status)
