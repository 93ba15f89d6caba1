"""The reconcile sweep (a beat task): compare each tenant's counters with a count over its
passes, per pass type, record and log any drift, and repair it.

A drift is repaired only when the sweep sees the same one twice in a row: between a pass
write and its `$inc` (counting.py) the two differ for a moment, and "repairing" that would
create the drift it meant to remove. A worker that died between the two writes leaves a
drift that stays the same, sweep after sweep: the second sighting repairs it with an `$inc`
of the difference (never a `$set`), so writes counted meanwhile are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.repositories import stats as repo

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    """What one sweep found: drift per (tenant, pass type), and what it repaired."""

    checked: int = 0
    drifted: dict[str, dict[str, int]] = field(default_factory=dict)
    repaired: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "drifted": self.drifted, "repaired": self.repaired}


def drift_between(counted: Mapping[str, int], stored: Mapping[str, int]) -> dict[str, int]:
    """What must be added to `stored` to equal `counted` (only the fields that differ)."""
    return {
        name: counted.get(name, 0) - stored.get(name, 0)
        for name in repo.COUNTER_FIELDS
        if counted.get(name, 0) != stored.get(name, 0)
    }


def reconcile(db: Any, tenant_ids: Iterable[str], *, now: datetime) -> SweepReport:
    report = SweepReport()
    for tenant_id in tenant_ids:
        stored_by_type = repo.read_counters(db, tenant_id)
        for pass_type in sorted(repo.pass_types_of(db, tenant_id)):
            report.checked += 1
            stored = stored_by_type.get(pass_type, {})
            drift = drift_between(repo.population_of(db, tenant_id, pass_type), stored)
            _settle(db, report, tenant_id, pass_type, drift=drift, now=now)
    return report


def _settle(
    db: Any,
    report: SweepReport,
    tenant_id: str,
    pass_type: str,
    *,
    drift: dict[str, int],
    now: datetime,
) -> None:
    if not drift:
        repo.dismiss_drift(db, tenant_id, pass_type, now)
        return
    key = f"{tenant_id}/{pass_type}"
    report.drifted[key] = drift
    pending = repo.pending_drift(db, tenant_id, pass_type)
    confirmed = pending is not None and pending.get("drift") == drift
    if confirmed:
        repo.add_to_counters(db, tenant_id, pass_type, drift, now)
        report.repaired[key] = drift
    repo.record_drift(db, tenant_id, pass_type, drift=drift, seen_at=now, repaired=confirmed)
    log.warning(
        "statistics drift tenant=%s passType=%s drift=%s %s",
        tenant_id,
        pass_type,
        drift,
        "repaired" if confirmed else "seen once: repaired if the next sweep sees it again",
    )
