"""What a push sender promises its callers: one :class:`PushResult` per token."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Reasons meaning "this registration will never work again": the caller removes it.
UNREGISTER_REASONS = frozenset(
    {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"}
)


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    UNREGISTER = "unregister"  # remove the registration
    RETRY = "retry"  # transient; only seen by classify(), results end delivered/failed
    FAILED = "failed"


def classify(status: int | None, reason: str | None) -> Outcome:
    """Map an APNs answer (``status`` None: no answer at all) to what the caller does."""
    if status == 200:
        return Outcome.DELIVERED
    if status == 410 or (status == 400 and reason in UNREGISTER_REASONS):
        return Outcome.UNREGISTER
    if status is None or status == 429 or status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


@dataclass(frozen=True, slots=True)
class PushResult:
    token: str
    status: int | None  # HTTP status of the last attempt; None if no response arrived
    reason: str | None  # APNs ``reason``, or a description of the local/connection error
    outcome: Outcome
    attempts: int
    apns_id: str | None = None
    timestamp: int | None = None  # with 410: when the token stopped being valid (ms)


class PushSender(Protocol):
    """All that product code needs from an APNs engine.

    ``send_pushes`` pushes the sender's payload to every token for ``topic`` (the pass type
    identifier) and returns one result per token, in order. Retries of transient failures
    happen inside: results are only ever delivered, unregister or failed. It blocks, and
    may be called from any thread of any process."""

    def send_pushes(self, topic: str, tokens: Sequence[str]) -> list[PushResult]: ...
