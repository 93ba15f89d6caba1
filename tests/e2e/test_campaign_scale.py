"""A campaign at scale, end to end (issue #5): a pushUpdate over a 5,000-pass segment whose
passes each have a registered Apple device and an object the fake Google already holds.

2,000 passes change: each is re-rendered, signed, stored once more, pushed once and PATCHed
once at Google. 3,000 already carry the patched values (and the Apple and Google renderings of
them): they count `unchanged`, get no push and no PATCH. Passes outside the segment are not
touched. The operation's counters say exactly that, and so do the fakes.

The split is the time budget's: on the 2-core test machine a changed pass costs ~13 ms of
wall time in the campaign (the worker's two processes, the fake Google and the MongoDB wire
server share the cores) and an unchanged one ~2.5 ms, plus ~4 ms to sign it in the set-up;
this split keeps the test under a minute (about 18 s of set-up and 30 s of campaign). The
fake's quota for the demo issuer (5,000 requests/s) is far above what the set-up or the
campaign send, so it is not lifted: the test checks that the fake never refused a call.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from tests.e2e.test_push_updates import start_campaign, versions
from tests.support.api_client import ApiClient
from tests.support.google import FakeGoogleProcess
from tests.support.wallet_passes import WalletSeeder

SEGMENT = 5000
UNCHANGED = 3000  # already carry the patched values (see the module's docstring)
OUTSIDE = 50
OLD_POINTS, NEW_POINTS = 120, 4321


@pytest.fixture
def seeder(db: Any, settings: Any, fake_google_server: FakeGoogleProcess) -> WalletSeeder:
    return WalletSeeder(db, settings, fake_google_server)


@pytest.mark.usefixtures("worker")
def test_push_update_over_5000_passes_counts_every_delivery_exactly(
    demo: ApiClient,
    db: Any,
    seeder: WalletSeeder,
    fake_apns: FakeApnsControl,
    fake_google: FakeGoogleControl,
) -> None:
    tag = secrets.token_hex(6)
    started = time.monotonic()
    changed = seeder.seed(tag, [OLD_POINTS] * (SEGMENT - UNCHANGED))
    unchanged = seeder.seed(tag, [NEW_POINTS] * UNCHANGED, apple_signed=True)
    # Passes the patch would change, but under another campaign tag: outside the segment.
    outside = seeder.seed(f"{tag}-out", [OLD_POINTS] * OUTSIDE)
    untouched = [item.pass_id for item in [*unchanged, *outside]]
    before = versions(db, untouched)
    seeded_at = time.monotonic()

    body = {
        "filter": {"passType": ["loyalty"], "metadata": {"campaign": [tag]}},
        "data": {"additionalData": {"points": NEW_POINTS}},
    }
    operation = demo.wait_for_final(start_campaign(demo, body), timeout=240)
    print(
        f"\nset-up {seeded_at - started:.1f} s, campaign {time.monotonic() - seeded_at:.1f} s "
        f"({operation['throughput']} passes/s by the operation's clock)"
    )

    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert counters["total"] == counters["processed"] == SEGMENT
    assert counters["succeeded"] == SEGMENT - UNCHANGED
    assert counters["unchanged"] == UNCHANGED
    assert (counters["failed"], counters["cancelled"]) == (0, 0)
    assert counters["apple"] == {"pushed": SEGMENT - UNCHANGED, "failed": 0, "unregistered": 0}
    google = counters["google"]
    assert (google["patched"], google["updated"]) == (SEGMENT - UNCHANGED, SEGMENT - UNCHANGED)
    assert (google["inserted"], google["failed"]) == (0, 0)

    # The fake APNs: one push per changed pass's device, none for the others.
    pushed = sorted(push["token"] for push in fake_apns.pushes())
    assert pushed == sorted(item.push_token for item in changed)

    # The fake Google: each changed object PATCHed once, to the new points; no other write,
    # and never a call over the quota.
    state = fake_google.state(include_log=False)
    objects = state["objects"]
    for item in changed:
        entry = objects[item.object_id]
        assert (entry["patch_count"], entry["put_count"]) == (1, 0), item
        assert entry["resource"]["loyaltyPoints"]["balance"]["string"] == str(NEW_POINTS)
    for item in [*unchanged, *outside]:
        entry = objects[item.object_id]
        assert (entry["patch_count"], entry["put_count"]) == (0, 0), item
    assert state["counters"]["rate_limited"] == 0

    # The passes: changed ones stored once more, the rest exactly as they were.
    stored = list(
        db.passes.find(
            {"_id": {"$in": [item.pass_id for item in changed]}},
            {"version": 1, "additionalData": 1, "applePushPending": 1, "google": 1},
        )
    )
    assert len(stored) == SEGMENT - UNCHANGED
    assert {d["version"] for d in stored} == {2}
    assert {d["additionalData"]["points"] for d in stored} == {NEW_POINTS}
    assert not any("applePushPending" in d for d in stored)
    assert all(d["google"]["syncedHash"] == d["google"]["contentHash"] for d in stored)
    assert versions(db, untouched) == before
