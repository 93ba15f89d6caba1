"""What the fake APNs server remembers and which failures it injects.

Shared between the server's event-loop thread and the test thread, hence the lock.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

# Reason strings Apple sends with these statuses.
FAULT_REASONS = {
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


@dataclass(frozen=True)
class PushRecord:
    token: str
    topic: str
    time: float  # wall clock, seconds since the epoch
    connection: int  # serial number of the connection that carried it
    apns_id: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FakeApnsState:
    """Accepted pushes, counters and fault configuration."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not crypto
        self._pushes: list[PushRecord] = []
        self._unregistered: dict[str, int] = {}  # token -> "timestamp" (ms) Apple reports
        self._fail_first: dict[str, tuple[int, int]] = {}  # token -> (remaining, status)
        self._error_rate = 0.0
        self._error_statuses: tuple[int, ...] = (503,)
        self.goaway_after: int | None = None  # requests per connection, then GOAWAY
        self.connections_total = 0
        self.connections_open = 0
        self.requests = 0
        self.max_in_flight = 0  # most requests one connection had open at once

    # -- configuration -----------------------------------------------------------------

    def set_unregistered(self, tokens: Iterable[str], timestamp_ms: int | None = None) -> None:
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        with self._lock:
            self._unregistered.update(dict.fromkeys((t.lower() for t in tokens), stamp))

    def fail_first(self, token: str, count: int, status: int = 429) -> None:
        """Answer the next ``count`` requests for ``token`` with ``status``."""
        with self._lock:
            self._fail_first[token.lower()] = (count, status)

    def set_error_rate(self, rate: float, statuses: Iterable[int] = (503,)) -> None:
        """Answer a random fraction of otherwise valid requests with one of ``statuses``."""
        with self._lock:
            self._error_rate = rate
            self._error_statuses = tuple(statuses)

    def configure(self, options: Mapping[str, Any]) -> None:
        """Apply the JSON document the control endpoint accepts (see ``control.py``)."""
        if "unregistered" in options:
            self.set_unregistered(options["unregistered"], options.get("unregistered_timestamp"))
        for item in options.get("fail_first", ()):
            self.fail_first(item["token"], int(item["count"]), int(item.get("status", 429)))
        if "error_rate" in options:
            self.set_error_rate(float(options["error_rate"]), options.get("error_statuses", (503,)))
        if "goaway_after" in options:
            value = options["goaway_after"]
            self.goaway_after = None if value is None else int(value)

    def reset(self) -> None:
        """Forget pushes, faults and counters (open connections stay open and counted)."""
        with self._lock:
            self._pushes.clear()
            self._unregistered.clear()
            self._fail_first.clear()
            self._error_rate = 0.0
            self.goaway_after = None
            self.connections_total = self.connections_open
            self.requests = 0
            self.max_in_flight = 0
        self.max_in_flight = 0  # most requests one connection had open at once

    # -- server side -------------------------------------------------------------------

    def fault_for(self, token: str) -> int | None:
        """Status to inject for this request, if any; consumes ``fail_first`` budget."""
        with self._lock:
            pending = self._fail_first.get(token)
            if pending is not None:
                remaining, status = pending
                if remaining <= 1:
                    del self._fail_first[token]
                else:
                    self._fail_first[token] = (remaining - 1, status)
                return status
            if self._error_rate and self._rng.random() < self._error_rate:
                return self._rng.choice(self._error_statuses)
        return None

    def unregistered_since(self, token: str) -> int | None:
        with self._lock:
            return self._unregistered.get(token)

    def record(self, push: PushRecord) -> None:
        with self._lock:
            self._pushes.append(push)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def note_in_flight(self, count: int) -> None:
        # Unlocked: only the server's loop thread writes it.
        self.max_in_flight = max(self.max_in_flight, count)

    def connection_opened(self) -> int:
        with self._lock:
            self.connections_total += 1
            self.connections_open += 1
            return self.connections_total

    def connection_closed(self) -> None:
        with self._lock:
            self.connections_open -= 1

    # -- queries -----------------------------------------------------------------------

    def pushes(self, token: str | None = None) -> list[PushRecord]:
        with self._lock:
            if token is None:
                return list(self._pushes)
            return [p for p in self._pushes if p.token == token.lower()]

    def pushed_tokens(self) -> set[str]:
        with self._lock:
            return {p.token for p in self._pushes}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "connections_total": self.connections_total,
                "connections_open": self.connections_open,
                "requests": self.requests,
                "pushes": len(self._pushes),
                "max_in_flight": self.max_in_flight,
            }
