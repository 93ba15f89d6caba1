"""Apple update tags reserved a block at a time (one `$inc` per campaign batch)."""

from __future__ import annotations

from typing import Any

from shared.passes.apple_versions import UPDATE_TAG_SEQUENCE, UpdateTags
from shared.repositories import counters


def test_tags_keep_growing_across_blocks_and_other_reservers(db: Any) -> None:
    tags = UpdateTags(db, block=3)
    taken = [tags.take() for _ in range(2)]
    (other,) = counters.reserve(db, UPDATE_TAG_SEQUENCE)  # e.g. a single-pass job meanwhile
    taken += [tags.take() for _ in range(3)]
    assert taken == sorted(set(taken))  # strictly increasing
    assert other not in taken
    assert taken[2] == taken[1] + 1 < other  # the rest of the first block
    assert taken[3] > other  # the second block was reserved after the other job's tag
    # Two blocks of three were reserved (one `$inc` each), then the other job's next tag.
    (after,) = counters.reserve(db, UPDATE_TAG_SEQUENCE)
    assert after == taken[0] + 3 + 1 + 3
