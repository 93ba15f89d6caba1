"""A paced campaign's batch size, and the beat entry that starts scheduled campaigns."""

from __future__ import annotations

from config.celery import START_SCHEDULED, START_SCHEDULED_EVERY_S, beat_schedule
from config.settings import Settings
from shared.campaigns import pacing


def test_paced_batches_hold_about_two_seconds_of_passes_within_bounds() -> None:
    assert pacing.batch_size({}, 500) == 500  # not paced: the setting
    assert pacing.batch_size({pacing.FIELD: 50}, 500) == 100
    assert pacing.batch_size({pacing.FIELD: 1}, 500) == pacing.MIN_PACED_BATCH
    assert pacing.batch_size({pacing.FIELD: 10_000}, 500) == 500  # never above the setting
    assert pacing.batch_size({pacing.FIELD: 1}, 4) == 4


def test_beat_polls_for_scheduled_campaigns_every_few_seconds_without_piling_up() -> None:
    [entry] = [e for e in beat_schedule(Settings()).values() if e["task"] == START_SCHEDULED]
    assert entry["schedule"] == START_SCHEDULED_EVERY_S <= 5
    # A poll not taken within its period is dropped: the next one does the same work.
    assert entry["options"]["expires"] <= START_SCHEDULED_EVERY_S
