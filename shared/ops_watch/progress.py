"""The one-line view of an operation, from the body of `GET /api/{tenantId}/operations/{id}`:

    running   [########................]  1,200/3,000  40%  85.3/s  ETA 22s | ok 1,150 ...

Pure functions (no terminal, no clock): what the line says is tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.operations import FINAL_STATUSES

BAR_WIDTH = 24
UNKNOWN = "--"


def fraction_done(processed: int, total: int, *, final: bool) -> float:
    """0..1. A campaign's total is 0 until it is planned, and an operation may end with
    nothing to do: a final operation is always full, an unplanned one empty."""
    if final:
        return 1.0
    if total <= 0:
        return 0.0
    return min(max(processed / total, 0.0), 1.0)


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    # Floor: the bar is full only when the work is, never at 99.6 %.
    filled = min(width, math.floor(fraction * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def duration_text(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h03m`; `--` when unknown. Rounded up: `0.2` s left is `1s`, not `0s`."""
    if seconds is None or seconds < 0 or math.isnan(seconds):
        return UNKNOWN
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def rate_text(throughput: float | None) -> str:
    if throughput is None:
        return f"{UNKNOWN}/s"
    return f"{throughput:,.1f}/s"


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def elapsed_seconds(operation: Mapping[str, Any]) -> float | None:
    """startedAt to finishedAt, when the operation ran and ended."""
    started, finished = _moment(operation.get("startedAt")), _moment(operation.get("finishedAt"))
    if started is None or finished is None:
        return None
    if (started.tzinfo is None) != (finished.tzinfo is None):
        return None  # naive and aware moments do not subtract
    return max((finished - started).total_seconds(), 0.0)


def _count(counters: Mapping[str, Any], name: str) -> int:
    value = counters.get(name, 0)
    return value if isinstance(value, int) else 0


def status_line(operation: Mapping[str, Any]) -> str:
    """Status, bar, processed/total, %, throughput, ETA (time taken once final), outcomes,
    Apple pushes and Google updates."""
    status = str(operation.get("status", "unknown"))
    final = status in FINAL_STATUSES
    counters: Mapping[str, Any] = operation.get("counters") or {}
    processed, total = _count(counters, "processed"), _count(counters, "total")
    fraction = fraction_done(processed, total, final=final)
    timing = (
        f"done in {duration_text(elapsed_seconds(operation))}"
        if final
        else f"ETA {duration_text(operation.get('eta'))}"
    )
    outcomes = " ".join(
        f"{label} {_count(counters, name):,}"
        for label, name in (
            ("ok", "succeeded"),
            ("failed", "failed"),
            ("unchanged", "unchanged"),
            ("cancelled", "cancelled"),
        )
    )
    apple, google = counters.get("apple") or {}, counters.get("google") or {}
    return (
        f"{status:<9} {progress_bar(fraction)} {processed:,}/{total:,} "
        f"{math.floor(fraction * 100):>3}% {rate_text(operation.get('throughput'))} {timing}"
        f" | {outcomes}"
        f" | apple pushed {_count(apple, 'pushed'):,}"
        f" | google updated {_count(google, 'updated'):,}"
    )


def problem_lines(operation: Mapping[str, Any], limit: int = 5) -> list[str]:
    """Why an operation failed and its first item errors, to print after the bar."""
    lines = []
    if operation.get("failureReason"):
        lines.append(f"failure: {operation['failureReason']}")
    errors = operation.get("errors") or []
    for error in errors[:limit]:
        lines.append(f"error: {error.get('id', '?')}: {error.get('reason', '')}")
    failed = _count(operation.get("counters") or {}, "failed")
    shown = min(len(errors), limit)
    if failed > shown:
        lines.append(f"({failed - shown:,} more failed items not shown)")
    return lines
