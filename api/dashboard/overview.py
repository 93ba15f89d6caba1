"""What the operator dashboard shows of one tenant, read from MongoDB: the counters kept on
write (shared/stats/), the passes by status and type, the recent operations and each
campaign's notification outcomes. Read-only: nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup

from api.dashboard.charts import Series, bar_chart, progress_bar, stacked_bar
from shared import operations
from shared.campaigns import PUSH_UPDATE
from shared.campaigns.statistics import progress
from shared.repositories import operations as operations_repo
from shared.repositories import stats as stats_repo
from shared.stats import reading
from shared.stats.counting import INSTALLED, WALLETS

DAYS_SHOWN = 30
OPERATIONS_SHOWN = 10
STATUS_ORDER = ("active", "redeemed", "expired", "blocked", "voided")


@dataclass(frozen=True)
class OperationRow:
    id: str
    kind: str
    status: str
    processed: int
    total: int
    created_at: datetime
    bar: Markup
    eta: float | None
    running: bool


@dataclass(frozen=True)
class CampaignOutcome:
    id: str
    status: str
    total: int
    outcomes: list[tuple[str, int]]


@dataclass(frozen=True)
class TypeRow:
    pass_type: str
    counters: dict[str, int]
    by_status: list[tuple[str, int]]
    bar: Markup


def installs_chart(db: Any, tenant_id: str, today: date) -> Markup:
    first = today - timedelta(days=DAYS_SHOWN - 1)
    days = reading.days(first, today)
    per_day = {day.isoformat(): dict.fromkeys(WALLETS, 0) for day in days}
    for bucket in reading.timeline(db, tenant_id, first=first, last=today, group_by="passType"):
        for wallet in WALLETS:
            per_day[bucket["day"]][wallet] += bucket["wallets"][wallet][INSTALLED]
    labels = [day.isoformat() for day in days]
    series = [
        Series(f"{wallet.capitalize()} Wallet", [per_day[label][wallet] for label in labels])
        for wallet in WALLETS
    ]
    return bar_chart(labels, series, title=f"Installs per day and wallet, last {DAYS_SHOWN} days")


def pass_types(db: Any, tenant_id: str) -> list[TypeRow]:
    counters = stats_repo.read_counters(db, tenant_id)
    statuses = stats_repo.count_by_status(db, tenant_id)
    rows = []
    for pass_type in sorted(set(counters) | set(statuses)):
        found = statuses.get(pass_type, {})
        ordered = [(name, found[name]) for name in STATUS_ORDER if found.get(name)]
        ordered += [(name, n) for name, n in sorted(found.items()) if name not in STATUS_ORDER]
        rows.append(
            TypeRow(
                pass_type=pass_type,
                counters=counters.get(pass_type, dict.fromkeys(stats_repo.COUNTER_FIELDS, 0)),
                by_status=ordered,
                bar=stacked_bar(ordered, title=f"{pass_type} passes by status"),
            )
        )
    return rows


def _flat(counters: dict[str, Any], prefix: str = "") -> dict[str, int]:
    flat: dict[str, int] = {}
    for name, value in counters.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        elif isinstance(value, int):
            flat[f"{prefix}{name}"] = value
    return flat


def _outcomes(counters: dict[str, Any]) -> list[tuple[str, int]]:
    """A campaign's notification outcomes: alerts sent, recorded without an alert, held back
    (per reason), deferred, failed."""
    flat = _flat(counters)
    shown = [
        (name, flat.get(name, 0))
        for name in (
            "apple.notified",
            "google.notified",
            "apple.notificationSuppressed",
            "google.notificationSuppressed",
            "deferred",
            "failed",
        )
    ]
    shown += sorted((name, n) for name, n in flat.items() if name.startswith("suppressed."))
    return shown


def recent_operations(db: Any, tenant_id: str, now: datetime) -> list[OperationRow]:
    documents, _ = operations_repo.list_operations(
        db, tenant_id, kind=None, status=None, skip=0, limit=OPERATIONS_SHOWN
    )
    rows = []
    for document in documents:
        counters = document.get("counters") or {}
        processed, total = int(counters.get("processed", 0)), int(counters.get("total", 0))
        rows.append(
            OperationRow(
                id=str(document["_id"]),
                kind=str(document.get("kind")),
                status=str(document.get("status")),
                processed=processed,
                total=total,
                created_at=document["createdAt"],
                bar=progress_bar(processed, total),
                eta=progress(document, now)["eta"],
                running=document.get("status") in operations.ACTIVE_STATUSES,
            )
        )
    return rows


def campaign_outcomes(db: Any, tenant_id: str) -> list[CampaignOutcome]:
    documents, _ = operations_repo.list_operations(
        db, tenant_id, kind=PUSH_UPDATE, status=None, skip=0, limit=OPERATIONS_SHOWN
    )
    return [
        CampaignOutcome(
            id=str(document["_id"]),
            status=str(document.get("status")),
            total=int((document.get("counters") or {}).get("total", 0)),
            outcomes=_outcomes(document.get("counters") or {}),
        )
        for document in documents
    ]
