"""A campaign preview's figures and a finished campaign's counters, named alike, so that a test
can say "the preview counted what the campaign then did" with one comparison."""

from __future__ import annotations

from typing import Any

HELD_BACK_REASONS = ("consent", "budget", "quietHours")


def preview_figures(report: dict[str, Any]) -> dict[str, int]:
    """The preview's figures named as the real operation's counters."""
    return {
        "total": report["matched"],
        "succeeded": report["wouldChange"],
        "unchanged": report["unchanged"],
        "failed": report["failed"],
        "apple.pushed": report["apple"]["devicesToPush"],
        "apple.notified": report["apple"]["alerts"],
        "google.updated": report["google"]["objectsToUpdate"],
        "google.notified": report["google"]["alerts"],
        **{f"suppressed.{reason}": n for reason, n in report["heldBack"].items()},
    }


def campaign_figures(operation: dict[str, Any]) -> dict[str, int]:
    """A finished campaign's counters, as preview_figures names them."""
    counters = operation["counters"]
    return {
        "total": counters["total"],
        "succeeded": counters["succeeded"],
        "unchanged": counters["unchanged"],
        "failed": counters["failed"],
        "apple.pushed": counters["apple"]["pushed"],
        "apple.notified": counters["apple"].get("notified", 0),
        "google.updated": counters["google"]["updated"],
        "google.notified": counters["google"]["notified"],
        **{
            f"suppressed.{reason}": (counters.get("suppressed") or {}).get(reason, 0)
            for reason in HELD_BACK_REASONS
        },
    }
