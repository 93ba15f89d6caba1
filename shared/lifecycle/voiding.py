"""Voiding a pass in both wallets, the first step of deleting it: its status becomes `voided`
whatever it was, then it is re-rendered and delivered exactly as an update job does
(shared/passes/updating.py): a new signed Apple version, one push to its devices, Google's
object PATCHed to INACTIVE.

Safe to run again: a voided pass is not voided twice, an unchanged rendering is not stored
twice, and only what a wallet is still owed is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.apple.issuing import AppleRenderFailed
from shared.passes.google_versions import GoogleRenderFailed
from shared.passes.jobs import ExternalDataFailed, JobContext, UnknownPassType
from shared.passes.updating import apply_patch, deliver_pass
from shared.repositories import deletion as repo
from shared.repositories import passes as passes_repo

_ATTEMPTS = 5
_NO_CHANGE: dict[str, Any] = {}  # the update job's patch for "render again as it is"


@dataclass(frozen=True)
class Voided:
    """The pass as stored once voided (None: it was gone), the delivery counters, and why a
    wallet could not be told (None when both were, or had nothing to be told)."""

    document: dict[str, Any] | None
    counters: dict[str, int] = field(default_factory=dict)
    problem: str | None = None


def void_everywhere(context: JobContext, tenant_id: str, pass_id: str, now: datetime) -> Voided:
    """Void the pass, store its voided rendering and deliver it to both wallets."""
    document: dict[str, Any] | None = None
    for _ in range(_ATTEMPTS):
        document = passes_repo.find_pass(context.db, tenant_id, pass_id)
        if document is None:
            return Voided(None)
        if document.get("status") != repo.VOIDED:
            repo.force_void(context.db, tenant_id, pass_id, now)
            continue  # render what is stored now
        try:
            outcome = apply_patch(context, document, _NO_CHANGE)
        except UnknownPassType:
            # Its pass type is no longer configured: nothing can render or sign it any more,
            # so the wallets keep their copy; deleting it must still be possible.
            return Voided(document)
        except (AppleRenderFailed, GoogleRenderFailed, ExternalDataFailed) as exc:
            return Voided(document, problem=f"could not void it: {exc}")
        if outcome is None:
            continue  # another job changed it meanwhile
        stored, _ = outcome
        delivered = deliver_pass(context, stored)
        if stored.get("applePushPending"):
            passes_repo.clear_apple_push_pending(
                context.db, tenant_id, pass_id, stored["apple"]["updateTag"]
            )
        refused = "Google Wallet did not take the voided object"
        return Voided(stored, delivered.counters, refused if delivered.google.failed else None)
    return Voided(document, problem="the pass kept changing; try again")
