"""Preview equals reality at 10,000 passes (issue #12), through the real processes: HTTP →
Redis → the worker → MongoDB → the fake APNs, fake Google and fake CRM.

10,000 demo loyalty passes in mixed states, each pass's state a function of its index
(`holder`, every combination occurring): 0, 1 or 2 registered iPhones; saved to Google Wallet
or not; marketing consent granted, refused or never given; Apple and Google alert budgets
untouched, partly spent, spent up, or spent more than 24 h ago; the campaign's data new to
the pass or already on it; the holder's time zone at night, in the day, or not named. A
marketing message with a data change, under quiet hours, is previewed (a `preview`
operation: the segment is large), then sent for real.

The preview changed nothing: every pass's version, update tag, push flags, messages and
Google hashes, the registrations, the update tag sequence, the alert budgets in Redis and the
deferred alerts are as they were, and the fake APNs and fake Google saw no request. The
campaign's counters then equal the preview's figures, each one. The figures that do not
depend on which Google objects are called (consent, quiet hours, budgets, Apple) are also
checked against the states seeded, so that preview and campaign cannot agree on a wrong count.

Seeding is direct, for time (10,000 passes created through the API would take many minutes):
the create job's own functions render, sign and tag each pass, stored in one bulk insert; a
few iPhones register through the PassKit web service and a few saves come as Google's signed
callbacks, the rest through the repository functions those endpoints call; alert budgets are
spent through shared/notifications/budgets.py, as earlier messages spent them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
import redis

from config.settings import Settings
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.notifications import budgets, consent
from shared.notifications.policy import Decision
from shared.passes.apple_versions import UPDATE_TAG_SEQUENCE, assign_update_tags, new_apple_version
from shared.passes.documents import new_pass_document
from shared.passes.google_versions import new_google_version
from shared.repositories import deferred_alerts, registrations
from shared.repositories import passes as passes_repo
from tests.e2e.test_push_updates import push_update, start_campaign
from tests.support.api_client import ApiClient
from tests.support.apple import PASS_TYPE_IDENTIFIER, WalletDevice, new_push_token
from tests.support.campaign_figures import campaign_figures, preview_figures
from tests.support.google import FakeGoogleProcess
from tests.support.google_tenants import DEMO_ISSUER_ID
from tests.support.wallet_passes import PASS_TYPE, WalletSeeder

SEGMENT = 10_000
OVER_HTTP = 3  # iPhones registered, and saves called back, through the API; the rest directly
SEED_THREADS = 4  # MongoDB and Redis answer one call while this process sends the next
CLASS_ID = f"{DEMO_ISSUER_ID}.demo-loyalty"
NIGHT, DAY = "night", "day"  # the holder's zone: inside the campaign's quiet hours, or not
QUIET_HOURS = {"start": "22:00", "end": "07:00"}
EARLIER, STALE = timedelta(hours=2), timedelta(hours=25)  # when earlier messages alerted
# (Apple alerts spent, Google alerts spent, spent more than 24 h ago): the default policy
# allows 3 a day on each wallet.
_BUDGETS = ((0, 0, False), (1, 0, False), (3, 0, False), (0, 3, False), (3, 3, False))
_BUDGETS += ((3, 3, True),)
_CONSENTS = (True, False, None)  # granted, refused, never given
_ZONES = (NIGHT, DAY, None)  # None: the pass names no zone (the campaign's, day, holds)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Holder:
    """What the segment's pass at one index starts as."""

    devices: int  # registered iPhones
    saved: bool  # saved to Google Wallet (its save callback seen, Google holds the object)
    consent: bool | None
    apple_spent: int
    google_spent: int
    stale: bool  # the budgets were spent more than 24 h ago: they no longer count
    gold: bool  # already carries the campaign's data (metadata.tier Gold)
    zone: str | None

    @property
    def granted(self) -> bool:
        return self.consent is True

    @property
    def at_night(self) -> bool:
        return self.zone == NIGHT

    def over_budget(self) -> tuple[bool, bool]:
        """(Apple, Google) spent up in the 24 h before the campaign."""
        return (not self.stale and self.apple_spent >= 3, not self.stale and self.google_spent >= 3)


def holder(index: int) -> Holder:
    """Mixed radix: each 648 consecutive passes hold every combination once."""
    index, devices = divmod(index, 3)
    index, saved = divmod(index, 2)
    index, given = divmod(index, len(_CONSENTS))
    index, budget = divmod(index, len(_BUDGETS))
    index, gold = divmod(index, 2)
    apple_spent, google_spent, stale = _BUDGETS[budget]
    return Holder(
        devices=devices,
        saved=bool(saved),
        consent=_CONSENTS[given],
        apple_spent=apple_spent,
        google_spent=google_spent,
        stale=stale,
        gold=bool(gold),
        zone=_ZONES[index % len(_ZONES)],
    )


def zone_where_it_is(now: datetime, hour: int) -> str:
    """An IANA zone (Etc/GMT±N) in which `now` is between `hour`:00 and `hour`:59."""
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT-{offset}" if offset > 0 else f"Etc/GMT+{-offset}"  # POSIX signs are inverted


def _in_threads(work: Callable[[_T], object], items: Iterable[_T]) -> None:
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        for _ in pool.map(work, items):
            pass


@dataclass
class Segment:
    tag: str
    zones: dict[str, str]
    documents: list[dict[str, Any]]  # as inserted (the signed parts included)
    holders: list[Holder]

    @property
    def ids(self) -> list[str]:
        return [document["_id"] for document in self.documents]


class SegmentSeeder:
    """The 10,000 passes as issuing, earlier messages, iPhones and Google left them."""

    def __init__(
        self, wallet: WalletSeeder, db: Any, redis_client: redis.Redis, api_url: str
    ) -> None:
        self.wallet, self.db, self.redis, self.api_url = wallet, db, redis_client, api_url

    def seed(self, tag: str, now: datetime) -> Segment:
        zones = {NIGHT: zone_where_it_is(now, 2), DAY: zone_where_it_is(now, 14)}
        holders = [holder(index) for index in range(SEGMENT)]
        documents = [
            self._document(tag, index, state, zones, now) for index, state in enumerate(holders)
        ]
        # The update tags the create jobs would have reserved, in one reservation.
        assign_update_tags(self.db, [document["apple"] for document in documents])
        self.db.passes.insert_many(documents)
        return Segment(tag, zones, documents, holders)

    def saved(self, segment: Segment) -> list[dict[str, Any]]:
        pairs = zip(segment.documents, segment.holders, strict=True)
        return [document for document, state in pairs if state.saved]

    def send_objects(self, segment: Segment) -> None:
        """Google holds the objects of the saved passes (passwire sent them)."""
        self.wallet.post_objects(document["google"]["object"] for document in self.saved(segment))

    def _document(
        self, tag: str, index: int, state: Holder, zones: dict[str, str], now: datetime
    ) -> dict[str, Any]:
        """One pass as the create job stores it (shared/passes/creation.py)."""
        metadata = {"campaign": tag, "store": "42"}
        if state.gold:
            metadata["tier"] = "Gold"
        if state.zone is not None:
            metadata["timeZone"] = zones[state.zone]
        document = new_pass_document(
            pass_id=new_pass_id(),
            tenant_id="demo",
            pass_type=PASS_TYPE,
            identifiers={"crm": f"C-{tag}-{index}"},
            metadata=metadata,
            additional_data={"points": index},
            correlation_id="test-seed",
            now=now,
        )
        if state.consent is not None:
            given = consent.marketing_consent(state.consent, at=None, source="seed", now=now)
            document[consent.FIELD] = {consent.MARKETING: given}
        wallet = self.wallet
        document["apple"] = new_apple_version(
            wallet.context, wallet.tenant, wallet.pass_type, document, now=now, tag_at_write=True
        )
        google = new_google_version(wallet.pass_type, document, now=now)
        assert google is not None
        if state.saved:  # Google holds its object
            google["syncedHash"] = google["contentHash"]
        else:  # never sent: nobody holds it
            document["googlePending"] = True
        document["google"] = google
        if state.devices:  # as the web service records it (webservice.note_install_state)
            document["providers"]["apple"] = {"installedAt": now}
        return document

    def register_iphones(self, segment: Segment) -> None:
        """The first few through the PassKit web service; the others (one HTTP call each would
        take minutes) through the repository function the web service registers with."""
        devices = [
            (document, number)
            for document, state in zip(segment.documents, segment.holders, strict=True)
            for number in range(state.devices)
        ]
        for document, _ in devices[:OVER_HTTP]:
            phone = WalletDevice(self.api_url, document["_id"], document["authenticationToken"])
            assert phone.register().status_code == 201

        def register(item: tuple[dict[str, Any], int]) -> None:
            registrations.upsert_registration(
                self.db,
                tenant_id="demo",
                device=secrets.token_hex(16),
                pass_type_identifier=PASS_TYPE_IDENTIFIER,
                serial=item[0]["_id"],
                push_token=new_push_token(),
                now=utcnow(),
            )

        _in_threads(register, devices[OVER_HTTP:])

    def save_to_google(self, segment: Segment, fake_google: FakeGoogleControl) -> None:
        """The first few saves as Google's signed callbacks; the others through the
        repository function the callback records them with."""
        saved = self.saved(segment)
        for document in saved[:OVER_HTTP]:
            answer = fake_google.send_callback(
                f"{self.api_url}/google/demo/callbacks",
                class_id=CLASS_ID,
                object_id=document["google"]["objectId"],
                event_type="save",
            )
            assert answer["status"] == 200, answer

        def save(document: dict[str, Any]) -> None:
            assert passes_repo.set_install_state(
                self.db, "demo", document["_id"], "google", installed=True, now=utcnow()
            )

        _in_threads(save, saved[OVER_HTTP:])

    def spend_budgets(self, segment: Segment, now: datetime) -> None:
        """Earlier messages' alerts, spent as a campaign spends them (budgets.consume)."""
        policy = self.wallet.tenant.notifications

        def spend(item: tuple[dict[str, Any], Holder]) -> None:
            document, state = item
            at = now - (STALE if state.stale else EARLIER)
            for number in range(max(state.apple_spent, state.google_spent)):
                earlier = Decision(number < state.apple_spent, number < state.google_spent)
                spent = budgets.consume(
                    self.redis, document, earlier, policy, message_id=f"earlier-{number}", now=at
                )
                assert spent == earlier

        _in_threads(spend, zip(segment.documents, segment.holders, strict=True))


# -- what must not change ------------------------------------------------------------------

_STATE = {
    "version": 1,
    "updatedAt": 1,
    "apple.updateTag": 1,
    "apple.contentHash": 1,
    "apple.lastModified": 1,
    "applePushPending": 1,
    "google.contentHash": 1,
    "google.syncedHash": 1,
    "googlePending": 1,
    "messages": 1,
    "providers": 1,
}


def _snapshot(db: Any, redis_client: redis.Redis, segment: Segment) -> dict[str, Any]:
    ids = segment.ids
    passes = {d["_id"]: d for d in db.passes.find({"_id": {"$in": ids}}, _STATE)}
    devices = db.registrations.find({"tenant": "demo", "serialNumber": {"$in": ids}}, {"_id": 0})
    pipe = redis_client.pipeline(transaction=False)
    for document in segment.documents:
        pipe.zrange(budgets.apple_key(document), 0, -1, withscores=True)
        pipe.zrange(budgets.google_key(document), 0, -1, withscores=True)
    return {
        "passes": passes,
        "registrations": sorted(
            (d["serialNumber"], d["deviceLibraryIdentifier"], d["pushToken"], d["updatedAt"])
            for d in devices
        ),
        "updateTags": db.counters.find_one({"_id": UPDATE_TAG_SEQUENCE}),
        "budgets": pipe.execute(),
        "deferred": db[deferred_alerts.COLLECTION].count_documents({}),
    }


def _traffic(fake_apns: FakeApnsControl, fake_google: FakeGoogleControl) -> tuple[int, int]:
    return len(fake_apns.pushes()), fake_google.counters()["requests"]


def _expected(holders: Sequence[Holder]) -> dict[str, int]:
    """The figures the seeded states decide whatever Google objects are called: a marketing
    message alerts only granted holders, waits at night (data changes still go), and alerts
    a wallet only while its budget lasts."""
    granted = [state for state in holders if state.granted]
    day = [state for state in granted if not state.at_night]
    unchanged = [state for state in granted if state.at_night and state.gold]
    return {
        "total": len(holders),
        "unchanged": len(unchanged),
        "apple.pushed": sum(state.devices for state in holders) - sum(s.devices for s in unchanged),
        "apple.notified": sum(state.devices for state in day if not state.over_budget()[0]),
        "suppressed.consent": len(holders) - len(granted),
        "suppressed.quietHours": len(granted) - len(day),
        "suppressed.budget": sum(any(state.over_budget()) for state in day),
    }


@pytest.fixture
def seeder(db: Any, settings: Settings, fake_google_server: FakeGoogleProcess) -> SegmentSeeder:
    return SegmentSeeder(
        WalletSeeder(db, settings, fake_google_server), db, redis.Redis.from_url(settings.redis_url)
    )


@pytest.mark.usefixtures("worker")
def test_a_10000_pass_preview_counts_what_the_campaign_then_does_and_changes_nothing(
    demo: ApiClient,
    db: Any,
    seeder: SegmentSeeder,
    fake_apns: FakeApnsControl,
    fake_google: FakeGoogleControl,
) -> None:
    started, now = time.monotonic(), utcnow()
    segment = seeder.seed(secrets.token_hex(6), now)
    steps = [("passes", time.monotonic())]
    seeder.send_objects(segment)
    steps.append(("objects", time.monotonic()))
    seeder.register_iphones(segment)
    steps.append(("iPhones", time.monotonic()))
    seeder.save_to_google(segment, fake_google)
    steps.append(("saves", time.monotonic()))
    seeder.spend_budgets(segment, now)
    steps.append(("budgets", time.monotonic()))
    seeded_at = time.monotonic()
    body = {
        "filter": {"metadata": {"campaign": [segment.tag]}},
        "data": {"metadata": {"tier": "Gold"}},
        "message": {"content": "Members' evening, Thursday", "kind": "marketing"},
        "quietHours": {**QUIET_HOURS, "timeZone": segment.zones[DAY]},
    }

    before, traffic = _snapshot(db, seeder.redis, segment), _traffic(fake_apns, fake_google)
    response = push_update(demo, {**body, "dryRun": True})
    assert response.status_code == 202, response.text  # too large to answer at once
    previewed = demo.wait_for_final(response.json()["correlationId"], timeout=180)
    assert (previewed["kind"], previewed["status"]) == ("preview", "completed"), previewed
    previewed_at = time.monotonic()
    assert _traffic(fake_apns, fake_google) == traffic  # nothing pushed, nothing sent to Google
    after = _snapshot(db, seeder.redis, segment)
    for part in before:  # one part at a time: a difference in 10,000 passes reads better
        assert after[part] == before[part], part

    operation = demo.wait_for_final(start_campaign(demo, body), timeout=240)
    finished_at = time.monotonic()
    marks = [started, *(at for _, at in steps)]
    seeding = ", ".join(f"{name} {at - marks[i]:.1f} s" for i, (name, at) in enumerate(steps))
    print(
        f"\nseeding {seeded_at - started:.1f} s ({seeding}), "
        f"preview {previewed_at - seeded_at:.1f} s, campaign {finished_at - previewed_at:.1f} s"
    )
    assert operation["status"] == "completed", operation
    report = previewed["preview"]
    assert preview_figures(report) == campaign_figures(operation), (report, operation["counters"])
    counters = operation["counters"]
    assert counters["apple"]["failed"] == counters["google"]["failed"] == 0, counters
    figures = preview_figures(report)
    assert {name: figures[name] for name in _expected(segment.holders)} == _expected(
        segment.holders
    )
    assert figures["failed"] == 0
    assert figures["google.notified"] > 0  # some saved, granted holders are alerted on Google
