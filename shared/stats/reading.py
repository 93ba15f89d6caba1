"""The read side of statistics: the population counters summed over pass types (a few small
documents, whatever the number of passes) and the timeline's buckets as the API shows them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from shared.repositories import stats as repo
from shared.stats.counting import (
    BY_MEDIUM,
    BY_PASS_TYPE,
    BY_TAG,
    EVENTS,
    INSTALLED,
    UNINSTALLED,
    WALLETS,
)

# The longest timeline one request may ask for (docs/api.md): a year of daily buckets.
MAX_TIMELINE_DAYS = 366
# What the timeline can be grouped by: medium and tag count attributed installs only.
GROUPINGS = (BY_PASS_TYPE, BY_MEDIUM, BY_TAG)


def population(db: Any, tenant_id: str, pass_type: str | None) -> dict[str, int]:
    """total, active (in at least one wallet), apple and google: of one pass type, or all."""
    by_type = repo.read_counters(db, tenant_id)
    chosen = [by_type.get(pass_type, {})] if pass_type is not None else list(by_type.values())
    return {name: sum(counters.get(name, 0) for counters in chosen) for name in repo.COUNTER_FIELDS}


def bucket_view(document: Mapping[str, Any]) -> dict[str, Any]:
    counts = document.get("counts") or {}
    shown: dict[str, Any] = {"day": document["day"], "group": document["group"]}
    shown.update({event: int(counts.get(event, 0)) for event in EVENTS})
    shown["wallets"] = {
        wallet: {
            event: int(counts.get(f"{event}_{wallet}", 0)) for event in (INSTALLED, UNINSTALLED)
        }
        for wallet in WALLETS
    }
    return shown


def timeline(
    db: Any, tenant_id: str, *, first: date, last: date, group_by: str
) -> list[dict[str, Any]]:
    """Buckets with at least one event, by day then group (days without any are left out)."""
    documents = repo.read_timeline(
        db,
        tenant_id,
        dimension=group_by,
        first_day=first.isoformat(),
        last_day=last.isoformat(),
    )
    return [bucket_view(document) for document in documents]


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
