"""Notifications: whether a message reaches a holder as a lock-screen alert, silently, or later.

- `config`: the tenant's policy (tenant.toml / passtype.toml `[notifications]`) and quiet hours.
- `policy`: `decide`, the one per-pass decision (consent, quiet hours, budgets), pure: the real
  campaign batch and its dry run both call it.
- `budgets`: the alerts already spent per pass (Apple) and per object (Google) in Redis; reading
  them (`peek`) is apart from spending them (`consume`), so a preview spends nothing.
- `consent`: a holder's marketing consent and the audit trail of its changes.
- `counting`: the operation counters a campaign's decisions add up to.
- `deferred`: alerts held back by quiet hours, stored in MongoDB and sent when due.
"""

from __future__ import annotations

TRANSACTIONAL = "transactional"
MARKETING = "marketing"
KINDS = (TRANSACTIONAL, MARKETING)
# A message without a kind: what every message was before kinds existed (see docs/notifications.md).
DEFAULT_KIND = TRANSACTIONAL

CONSENT = "consent"
BUDGET = "budget"
QUIET_HOURS = "quietHours"
REASONS = (CONSENT, BUDGET, QUIET_HOURS)
