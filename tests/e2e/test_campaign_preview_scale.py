"""Preview equals reality at 10,000 passes (issue #12), through the real processes: HTTP →
Redis → the worker → MongoDB → the fake APNs, fake Google and fake CRM.

10,000 demo loyalty passes in mixed states, each pass's state a function of its index
(`holder`, every combination occurring): 0, 1 or 2 registered iPhones; saved to Google Wallet
(the object at Google, the save callback seen) or not (the object still owed); marketing
consent granted, refused or never given; Apple and Google alert budgets untouched, partly
spent, spent up, or spent more than 24 h ago; the campaign's data new to the pass or already
on it; the holder's time zone at night, in the day, or not named. A marketing message with a
data change, under quiet hours, is previewed (a `preview` operation: the segment is large),
then sent for real.

The preview changed nothing: every pass's version, update tag, push flags, messages and
Google hashes, the registrations, the update tag sequence, the alert budgets in Redis and the
deferred alerts are as they were, and the fake APNs and fake Google saw no request. The
campaign's counters then equal the preview's figures, each one. The figures for consent,
quiet hours, budgets and Apple are also checked against the states seeded, so that preview and
campaign cannot agree on a wrong count; Google's are checked against the campaign only.

Seeding is direct, for time (10,000 passes created through the API would take many minutes):
the create job's own functions render, sign and tag each pass, stored in one bulk insert; a
few iPhones register through the PassKit web service and a few saves come as Google's signed
callbacks, the rest through the repository functions those endpoints call; alert budgets are
spent through shared/notifications/budgets.py, as earlier messages spent them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from config.settings import Settings
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.notifications import budgets, consent
from shared.notifications.config import DEFAULT_APPLE_ALERTS_PER_DAY, GOOGLE_ALERTS_PER_DAY
from shared.notifications.policy import Decision
from shared.passes.apple_versions import UPDATE_TAG_SEQUENCE, assign_update_tags, new_apple_version
from shared.passes.documents import new_pass_document
from shared.passes.google_versions import HOLDER_FIELD, new_google_version
from shared.repositories import deferred_alerts, registrations
from shared.repositories import passes as passes_repo
from tests.e2e.test_push_updates import push_update, start_campaign
from tests.support.api_client import ApiClient
from tests.support.apple import PASS_TYPE_IDENTIFIER, WalletDevice, new_push_token
from tests.support.campaign_figures import campaign_figures, preview_figures
from tests.support.google import FakeGoogleProcess
from tests.support.google_tenants import DEMO_ISSUER_ID
from tests.support.processes import wait_until
from tests.support.wallet_passes import PASS_TYPE, WalletSeeder

SEGMENT = 10_000
OVER_HTTP = 3  # iPhones registered, and saves called back, through the API; the rest directly
SEED_THREADS = 4  # MongoDB and Redis answer one call while this process sends the next
CLASS_ID = f"{DEMO_ISSUER_ID}.demo-loyalty"
NIGHT, DAY = "night", "day"  # the holder's zone: inside the campaign's quiet hours, or not
QUIET_HOURS = {"start": "22:00", "end": "07:00"}
EARLIER, STALE = timedelta(hours=2), timedelta(hours=25)  # when earlier messages alerted
# The demo tenant keeps the default policy: 3 Apple alerts a day per pass; Google's 3 per object.
APPLE_LIMIT, GOOGLE_LIMIT = DEFAULT_APPLE_ALERTS_PER_DAY, GOOGLE_ALERTS_PER_DAY
# (Apple alerts spent, Google alerts spent, spent more than 24 h ago)
_BUDGETS = (
    (0, 0, False),
    (1, 0, False),
    (APPLE_LIMIT, 0, False),
    (0, GOOGLE_LIMIT, False),
    (APPLE_LIMIT, GOOGLE_LIMIT, False),
    (APPLE_LIMIT, GOOGLE_LIMIT, True),
)
_CONSENTS = (True, False, None)  # granted, refused, never given
_ZONES = (NIGHT, DAY, None)  # None: the pass names no zone (the campaign's, day, holds)


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
        """(Apple, Google) spent up in the 24 h before the campaign; a Google object nobody
        saved shows no message, so it has no budget to be over."""
        apple = not self.stale and self.apple_spent >= APPLE_LIMIT
        google = self.saved and not self.stale and self.google_spent >= GOOGLE_LIMIT
        return apple, google


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


class Laps:
    """How long each step of the test took, printed at the end (figures, not assertions)."""

    def __init__(self) -> None:
        self.laps: list[tuple[str, float]] = []
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps.append((name, now - self._last))
        self._last = now

    def __str__(self) -> str:
        total = sum(seconds for _, seconds in self.laps)
        steps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.laps)
        return f"{total:.1f} s ({steps})"


@dataclass
class Segment:
    tag: str
    zones: dict[str, str]
    documents: list[dict[str, Any]]  # as inserted (the signed parts included)
    holders: list[Holder]

    @property
    def ids(self) -> list[str]:
        return [document["_id"] for document in self.documents]

    def saved(self) -> list[dict[str, Any]]:
        """The passes saved to Google Wallet."""
        pairs = zip(self.documents, self.holders, strict=True)
        return [document for document, state in pairs if state.saved]


class SegmentSeeder:
    """The 10,000 passes as issuing, earlier messages, iPhones and Google left them.

    The calls to MongoDB and Redis go from a few threads while this one renders and signs:
    the wire server and Redis work on the other core meanwhile."""

    def __init__(
        self, wallet: WalletSeeder, db: Any, redis_client: redis.Redis, api_url: str
    ) -> None:
        self.wallet, self.db, self.redis, self.api_url = wallet, db, redis_client, api_url

    def seed(self, tag: str, now: datetime, fake_google: FakeGoogleControl) -> Segment:
        zones = {NIGHT: zone_where_it_is(now, 2), DAY: zone_where_it_is(now, 14)}
        holders = [holder(index) for index in range(SEGMENT)]
        ids = [new_pass_id() for _ in holders]
        devices = [i for i, state in zip(ids, holders, strict=True) for _ in range(state.devices)]
        with ThreadPoolExecutor(SEED_THREADS) as pool:
            waiting = [pool.submit(self._register, pass_id) for pass_id in devices[OVER_HTTP:]]
            documents = [
                self._document(pass_id, tag=tag, index=index, state=state, zones=zones, now=now)
                for index, (pass_id, state) in enumerate(zip(ids, holders, strict=True))
            ]
            # The update tags the create jobs would have reserved, in one reservation.
            assign_update_tags(self.db, [document["apple"] for document in documents])
            self.db.passes.insert_many(documents)
            segment = Segment(tag, zones, documents, holders)
            saved = segment.saved()
            waiting += [pool.submit(self._save, document) for document in saved[OVER_HTTP:]]
            waiting += [
                pool.submit(self._spend, document, state, now)
                for document, state in zip(documents, holders, strict=True)
            ]
            # Google holds the saved passes' objects (their Save link clicks sent them).
            self.wallet.post_objects(document["google"]["object"] for document in saved)
            for future in waiting:
                future.result()
        by_id = {document["_id"]: document for document in documents}
        for pass_id in devices[:OVER_HTTP]:
            token = by_id[pass_id]["authenticationToken"]
            assert WalletDevice(self.api_url, pass_id, token).register().status_code == 201
        for document in saved[:OVER_HTTP]:
            answer = fake_google.send_callback(
                f"{self.api_url}/google/demo/callbacks",
                class_id=CLASS_ID,
                object_id=document["google"]["objectId"],
                event_type="save",
            )
            assert answer["status"] == 200, answer
        return segment

    def _document(
        self,
        pass_id: str,
        *,
        tag: str,
        index: int,
        state: Holder,
        zones: dict[str, str],
        now: datetime,
    ) -> dict[str, Any]:
        """One pass as the create job stores it (shared/passes/creation.py)."""
        metadata = {"campaign": tag, "store": "42"}
        if state.gold:
            metadata["tier"] = "Gold"
        if state.zone is not None:
            metadata["timeZone"] = zones[state.zone]
        document = new_pass_document(
            pass_id=pass_id,
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
        if state.saved:  # sent to Google by the holder's Save link click
            google["syncedHash"] = google["contentHash"]
        else:  # owed until a Save link click sends it
            document["googlePending"] = True
        document["google"], document[HOLDER_FIELD] = google, None  # nobody saved it yet
        if state.devices:  # as the web service records it (webservice.note_install_state)
            document["providers"]["apple"] = {"installedAt": now}
        return document

    def _register(self, pass_id: str) -> None:
        """An iPhone registered for the pass, through the repository function the PassKit web
        service registers with (a few go through the web service itself: one HTTP call
        each for all would take minutes)."""
        registrations.upsert_registration(
            self.db,
            tenant_id="demo",
            device=secrets.token_hex(16),
            pass_type_identifier=PASS_TYPE_IDENTIFIER,
            serial=pass_id,
            push_token=new_push_token(),
            now=utcnow(),
        )

    def _save(self, document: dict[str, Any]) -> None:
        """Saved to Google Wallet, through the repository functions Google's save callback
        records it with (a few come as signed callbacks)."""
        pass_id = document["_id"]
        assert passes_repo.set_install_state(
            self.db, "demo", pass_id, "google", installed=True, now=utcnow()
        )
        assert passes_repo.set_google_holder(self.db, "demo", pass_id, saved=True) is not None

    def _spend(self, document: dict[str, Any], state: Holder, now: datetime) -> None:
        """Earlier messages' alerts, spent as a campaign spends them (budgets.consume)."""
        policy = self.wallet.tenant.notifications
        at = now - (STALE if state.stale else EARLIER)
        for number in range(max(state.apple_spent, state.google_spent)):
            earlier = Decision(number < state.apple_spent, number < state.google_spent)
            spent = budgets.consume(
                self.redis, document, earlier, policy, message_id=f"earlier-{number}", now=at
            )
            assert spent == earlier


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
    # By serial number alone: the dev wire server would match 10,000 ids against every one of
    # the tenant's registrations (a real MongoDB uses the tenant_serial index either way).
    devices = db.registrations.find({"serialNumber": {"$in": ids}}, {"_id": 0})
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
def seeder(
    db: Any, settings: Settings, fake_google_server: FakeGoogleProcess, api_url: str
) -> SegmentSeeder:
    wallet = WalletSeeder(db, settings, fake_google_server)
    return SegmentSeeder(wallet, db, redis.Redis.from_url(settings.redis_url), api_url)


@pytest.fixture
def fakes(
    fake_apns: FakeApnsControl, fake_google: FakeGoogleControl
) -> tuple[FakeApnsControl, FakeGoogleControl]:
    return fake_apns, fake_google


@pytest.fixture
def campaigns(db: Any) -> Iterator[list[str]]:
    """The test's campaigns, whose deferred alerts go with it: tests that run the deferred
    alerts' sender with a clock hours ahead (tests/e2e/test_quiet_hours.py) would send them."""
    started: list[str] = []
    yield started
    db[deferred_alerts.COLLECTION].delete_many({"correlationId": {"$in": started}})


def _delivered(db: Any, segment: Segment) -> None:
    """The campaign's last batches clear the owed flags just after counting: every push
    recorded, and every saved pass's object at Google."""
    owing = {"_id": {"$in": segment.ids}, "applePushPending": True}
    google_owing = {"_id": {"$in": [d["_id"] for d in segment.saved()]}, "googlePending": True}

    def settled() -> bool:
        return db.passes.count_documents(owing) + db.passes.count_documents(google_owing) == 0

    wait_until(settled, 60, interval=0.5, what="the campaign's deliveries to be recorded")


@pytest.mark.timeout(600)  # ~2 min alone on 2 cores; the 300 s default is short on a busy one
@pytest.mark.usefixtures("worker")
def test_a_10000_pass_preview_counts_what_the_campaign_then_does_and_changes_nothing(
    demo: ApiClient,
    db: Any,
    seeder: SegmentSeeder,
    campaigns: list[str],
    fakes: tuple[FakeApnsControl, FakeGoogleControl],
) -> None:
    fake_apns, fake_google = fakes
    assert seeder.wallet.tenant.notifications.apple_limit(PASS_TYPE) == APPLE_LIMIT
    laps, now = Laps(), utcnow()
    segment = seeder.seed(secrets.token_hex(6), now, fake_google)
    laps.lap("seeding")
    body = {
        "filter": {"metadata": {"campaign": [segment.tag]}},
        "data": {"metadata": {"tier": "Gold"}},
        "message": {"content": "Members' evening, Thursday", "kind": "marketing"},
        "quietHours": {**QUIET_HOURS, "timeZone": segment.zones[DAY]},
    }

    before, traffic = _snapshot(db, seeder.redis, segment), _traffic(fake_apns, fake_google)
    laps.lap("snapshot")
    response = push_update(demo, {**body, "dryRun": True})
    assert response.status_code == 202, response.text  # too large to answer at once
    previewed = demo.wait_for_final(response.json()["correlationId"], timeout=180)
    assert (previewed["kind"], previewed["status"]) == ("preview", "completed"), previewed
    laps.lap("preview")
    assert _traffic(fake_apns, fake_google) == traffic  # nothing pushed, nothing sent to Google
    after = _snapshot(db, seeder.redis, segment)
    for part in before:  # one part at a time: a difference in 10,000 passes reads better
        assert after[part] == before[part], part
    laps.lap("snapshot")

    campaigns.append(start_campaign(demo, body))
    operation = demo.wait_for_final(campaigns[-1], timeout=240)
    laps.lap("campaign")
    _delivered(db, segment)
    laps.lap("delivered")
    print(f"\n{laps}")
    assert operation["status"] == "completed", operation
    report = previewed["preview"]
    assert preview_figures(report) == campaign_figures(operation), (report, operation["counters"])
    counters = operation["counters"]
    assert counters["apple"]["failed"] == counters["google"]["failed"] == 0, counters
    # What the fake APNs saw, and the alerts waiting for the end of quiet hours.
    assert len(fake_apns.pushes()) - traffic[0] == report["apple"]["devicesToPush"]
    waiting = db[deferred_alerts.COLLECTION].count_documents({"correlationId": campaigns[-1]})
    assert waiting == counters["deferred"] == report["heldBack"]["quietHours"]

    # The figures the states seeded decide, whichever Google objects are called.
    figures = preview_figures(report)
    expected = _expected(segment.holders)
    assert {name: figures[name] for name in expected} == expected
    assert figures["failed"] == 0
    assert figures["google.notified"] > 0  # some saved, granted holders are alerted on Google
