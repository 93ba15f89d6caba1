"""Answering a lifecycle change: queue the pass's refresh job, or undo the change.

The change is already stored when its refresh is queued; if the operation cannot be written
or the job cannot be enqueued the change is taken back, so the caller's 503 ("nothing was
done") is true and a retry starts afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from api.auth import current_tenant
from api.passes.jobs import accept
from shared.infra.ids import new_correlation_id
from shared.infra.logs import correlation_context
from shared.lifecycle.refresh import REFRESH_TASK, refresh_intent

log = logging.getLogger(__name__)


def refresh(pass_id: str, kind: str, undo: Callable[[], object]) -> tuple[str, dict[str, str]]:
    """(correlation id, headers with the operation's Location) of the queued refresh."""
    correlation_id = new_correlation_id()
    with correlation_context(correlation_id):
        try:
            _, _, headers = accept(
                current_tenant().id,
                kind,
                task_name=REFRESH_TASK,
                correlation_id=correlation_id,
                pass_id=pass_id,
                intent=refresh_intent(pass_id),
            )
        except Exception:
            _undo_quietly(undo, pass_id)
            raise
    return correlation_id, headers


def _undo_quietly(undo: Callable[[], object], pass_id: str) -> None:
    try:
        if not undo():
            log.error("pass %s changed again meanwhile: its change stays, unrendered", pass_id)
    except Exception:  # the database that failed the operation may fail this too
        log.exception("could not undo the change of pass %s", pass_id)


def state_view(pass_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """passId, status and (when set) expirationDate."""
    shown: dict[str, Any] = {"passId": pass_id, "status": state.get("status") or "active"}
    if state.get("expirationDate") is not None:
        shown["expirationDate"] = state["expirationDate"]
    return shown
