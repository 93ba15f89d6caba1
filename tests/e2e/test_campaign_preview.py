"""Campaign previews (`"dryRun": true`) through the real processes: the preview's figures are
the figures the real campaign then counts, over passes in mixed states (never rendered, already
holding the change, with and without registered iPhones, on Google), and the preview changed
nothing: pass versions, update tags, push flags and Google hashes as they were, and the fake
APNs and fake Google saw no traffic during it. A large segment previews as a `preview` job."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from api.push_updates.launch import PREVIEW_AT_ONCE
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.infra.clock import utcnow
from tests.e2e.test_push_updates import (
    insert_segment,
    push_update,
    register_devices,
    start_campaign,
)
from tests.support.api_client import ApiClient
from tests.support.campaign_figures import campaign_figures, preview_figures
from tests.support.processes import wait_until

_STATE = {
    "version": 1,
    "apple.updateTag": 1,
    "apple.contentHash": 1,
    "applePushPending": 1,
    "google.contentHash": 1,
    "google.syncedHash": 1,
    "googlePending": 1,
    "messages": 1,
}


def _snapshot(db: Any, pass_ids: list[str]) -> dict[str, Any]:
    passes = {d["_id"]: d for d in db.passes.find({"_id": {"$in": pass_ids}}, _STATE)}
    tags = db.counters.find_one({"_id": "apple.updateTag"})
    return {"passes": passes, "tags": tags}


def _delivered(db: Any, pass_ids: list[str]) -> None:
    """Wait for the last batch of a finished campaign to clear its passes' owed deliveries:
    it does so just after recording (and so after the operation ends)."""

    def settled() -> bool:
        # A Google object nobody holds stays owed until its Save link is clicked.
        held = {"googleHolder": {"$type": "string"}}
        owed = {"$or": [{"applePushPending": True}, {"googlePending": True, **held}]}
        found = db.passes.count_documents({"_id": {"$in": pass_ids}, **owed})
        google = db.passes.find({"_id": {"$in": pass_ids}, **held}, {"google": 1})
        return found == 0 and all(
            d["google"]["contentHash"] == d["google"].get("syncedHash")
            for d in google
            if d.get("google")
        )

    wait_until(settled, 30, interval=0.1, what="the campaign's deliveries to be recorded")


def _traffic(fake_apns: FakeApnsControl, fake_google: FakeGoogleControl) -> tuple[int, int]:
    return len(fake_apns.pushes()), fake_google.counters()["requests"]


def _preview(client: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = push_update(client, {**body, "dryRun": True})
    assert response.status_code == 200, response.text
    assert response.json()["dryRun"] is True
    report: dict[str, Any] = response.json()["preview"]
    return report


def _preview_then_run(
    client: ApiClient,
    db: Any,
    body: dict[str, Any],
    segment: list[str],
    fakes: tuple[FakeApnsControl, FakeGoogleControl],
) -> tuple[dict[str, Any], dict[str, Any]]:
    _delivered(db, segment)
    before, traffic = _snapshot(db, segment), _traffic(*fakes)
    report = _preview(client, body)
    assert _snapshot(db, segment) == before  # nothing written, no update tag reserved
    assert _traffic(*fakes) == traffic  # nothing pushed, nothing sent to Google
    operation = client.wait_for_final(start_campaign(client, body), timeout=90)
    assert operation["status"] == "completed", operation
    assert preview_figures(report) == campaign_figures(operation), (report, operation["counters"])
    return report, operation


@pytest.mark.usefixtures("worker")
def test_the_preview_counts_what_the_campaign_then_does_and_changes_nothing(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl, fake_google: FakeGoogleControl
) -> None:
    tag = secrets.token_hex(6)
    segment = insert_segment(db, tag, 180)
    register_devices(db, segment[::3])  # 60 passes with an iPhone
    # 90 saved in Google Wallet: Google is called (and counted) only for those.
    db.passes.update_many({"_id": {"$in": segment[::2]}}, {"$set": {"googleHolder": "saved"}})
    fakes = (fake_apns, fake_google)
    # Every pass rendered once, then half of them given the change by an earlier campaign.
    for earlier in (
        {"filter": {"ids": segment}, "data": {"additionalData": {"seen": 1}}},
        {"filter": {"ids": segment[:90]}, "data": {"metadata": {"tier": "Gold"}}},
    ):
        assert demo.wait_for_final(start_campaign(demo, earlier), timeout=60)["status"] == (
            "completed"
        )

    body = {"filter": {"metadata": {"campaign": [tag]}}, "data": {"metadata": {"tier": "Gold"}}}
    report, _ = _preview_then_run(demo, db, body, segment, fakes)
    assert (report["matched"], report["wouldChange"], report["unchanged"]) == (180, 90, 90)
    assert report["apple"]["devicesToPush"] == 30 and report["google"]["objectsToUpdate"] == 45
    assert report["samples"] and len(report["samples"]) <= 5
    assert all(
        any(change.endswith("Bean → Gold") for change in sample["changes"])
        for sample in report["samples"]
    ), report["samples"]

    # A message: every pass changes, each iPhone is alerted, each saved Google object notified.
    message = {
        "filter": {"metadata": {"campaign": [tag]}},
        "message": {"content": "Double points this weekend"},
    }
    report, _ = _preview_then_run(demo, db, message, segment, fakes)
    assert report["wouldChange"] == 180 and report["apple"]["alerts"] == 60
    assert report["google"]["alerts"] == 90
    assert report["heldBack"] == {"consent": 0, "budget": 0, "quietHours": 0}
    assert any(
        "Double points this weekend" in change
        for sample in report["samples"]
        for change in sample["changes"]
    )

    # A marketing message: a third granted consent, a third refused, a third never asked.
    for granted, share in ((True, segment[0::3]), (False, segment[1::3])):
        consent = {"granted": granted, "at": utcnow(), "source": "test"}
        db.passes.update_many({"_id": {"$in": share}}, {"$set": {"consent.marketing": consent}})
    marketing = {
        "filter": {"metadata": {"campaign": [tag]}},
        "message": {"content": "Members' evening", "kind": "marketing"},
    }
    report, _ = _preview_then_run(demo, db, marketing, segment, fakes)
    assert report["heldBack"]["consent"] == 120 and report["google"]["alerts"] == 30
    assert report["apple"]["alerts"] == 60  # the devices are on segment[::3]: all granted


@pytest.mark.usefixtures("worker")
def test_a_large_segment_previews_as_a_preview_operation(
    demo: ApiClient, db: Any, fake_apns: FakeApnsControl
) -> None:
    tag = secrets.token_hex(6)
    segment = insert_segment(db, tag, PREVIEW_AT_ONCE + 50)
    register_devices(db, segment[:10])
    before, pushes = _snapshot(db, segment), len(fake_apns.pushes())
    body = {"filter": {"metadata": {"campaign": [tag]}}, "data": {"additionalData": {"n": 1}}}
    response = push_update(demo, {**body, "dryRun": True})
    assert response.status_code == 202, response.text
    operation = demo.wait_for_final(response.json()["correlationId"], timeout=60)
    assert (operation["kind"], operation["status"]) == ("preview", "completed"), operation
    report = operation["preview"]
    assert report["matched"] == report["wouldChange"] == PREVIEW_AT_ONCE + 50
    assert report["apple"]["devicesToPush"] == 10
    assert operation["counters"]["processed"] == operation["counters"]["total"] == report["matched"]
    assert _snapshot(db, segment) == before and len(fake_apns.pushes()) == pushes
