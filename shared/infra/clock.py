"""One source of "now", timezone-aware UTC, at MongoDB's millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    now = datetime.now(UTC)
    # MongoDB stores milliseconds: truncate so what we return equals what we read back.
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
