"""Throughput and ETA of an operation, derived at read time from its counters and startedAt
(nothing extra is written per batch)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def progress(operation: Mapping[str, Any], now: datetime) -> dict[str, float | None]:
    """`throughput` (items/s since startedAt, up to finishedAt once done) and `eta` (seconds
    left at that rate, only while running); None where there is nothing to go on yet."""
    started = operation.get("startedAt")
    counters = operation.get("counters") or {}
    processed, total = int(counters.get("processed", 0)), int(counters.get("total", 0))
    if started is None:
        return {"throughput": None, "eta": None}
    finished = operation.get("finishedAt")
    elapsed = ((_aware(finished) if finished else now) - _aware(started)).total_seconds()
    if elapsed <= 0 or processed == 0:
        return {"throughput": None, "eta": None}
    throughput = processed / elapsed
    eta = None if finished else max(total - processed, 0) / throughput
    return {"throughput": round(throughput, 2), "eta": None if eta is None else round(eta, 1)}
