"""Statistics end to end: a scripted mix of creates, installs (PassKit registrations and
Google's signed callbacks, 50 of them at once), uninstalls, redemptions, deletes and an
erasure goes through the API and the real worker; `/passes/stats` then equals a count over
the passes collection, the timeline's buckets equal the scripted events, and the reconcile
sweep finds no drift, then finds and repairs one made by hand."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from dev.fake_google import FakeGoogleControl
from shared.infra.clock import utcnow
from shared.stats.reconcile import reconcile
from tests.support.api_client import ApiClient
from tests.support.apple import PUBLIC_URL, WalletDevice, download_pkpass, unpack
from tests.support.google_saving import LOYALTY_CLASS_ID, google_callback, object_id
from tests.support.http_server import serving

pytestmark = pytest.mark.usefixtures("worker")

LOYALTY, VOUCHER = "loyalty", "voucher"
EVENTS = ("created", "installed", "uninstalled", "redeemed", "notified")


def counted_in_db(db: Any, pass_type: str | None) -> dict[str, int]:
    """The truth the counters must match, counted here over the passes collection."""
    base: dict[str, Any] = {"tenant": "demo"}
    if pass_type is not None:
        base["passType"] = pass_type
    apple = {"providers.apple": {"$type": "object"}}
    google = {"providers.google": {"$type": "object"}}
    return {
        "total": db.passes.count_documents(base),
        "active": db.passes.count_documents({**base, "$or": [apple, google]}),
        "apple": db.passes.count_documents({**base, **apple}),
        "google": db.passes.count_documents({**base, **google}),
    }


def api_stats(client: ApiClient, pass_type: str | None = None) -> dict[str, int]:
    params = {"passType": pass_type} if pass_type else None
    response = client.session.get(client.url("/passes/stats"), params=params, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body.pop("passType") == pass_type
    return body


def today_buckets(client: ApiClient, group_by: str = "passType") -> dict[str, dict[str, int]]:
    """Today's events per pass type (or medium, or tag), as the timeline says."""
    today = utcnow().date().isoformat()
    params = {"from": today, "to": today, "groupBy": group_by}
    response = client.session.get(client.url("/stats/timeline"), params=params, timeout=10)
    assert response.status_code == 200, response.text
    return {
        bucket["group"]: {event: bucket[event] for event in EVENTS}
        for bucket in response.json()["buckets"]
    }


def changed(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    for group, counts in after.items():
        earlier = before.get(group, {})
        moved = {event: n - earlier.get(event, 0) for event, n in counts.items()}
        if any(moved.values()):
            delta[group] = {event: n for event, n in moved.items() if n}
    return delta


def create(client: ApiClient, pass_type: str) -> tuple[str, str]:
    """Ask for a pass; its operation's id and the pass id."""
    body = {"identifiers": {"code" if pass_type == VOUCHER else "crm": secrets.token_hex(6)}}
    response = client.create_pass(pass_type, **body)
    assert response.status_code == 202, response.text
    return str(response.json()["correlationId"]), str(response.json()["passId"])


def create_all(client: ApiClient, pass_type: str, count: int) -> list[str]:
    """`count` passes created at once (their jobs run together); their ids, once all done."""
    accepted = [create(client, pass_type) for _ in range(count)]
    for correlation_id, _ in accepted:
        assert client.wait_for_final(correlation_id, timeout=120)["status"] == "completed"
    return [pass_id for _, pass_id in accepted]


def device_for(client: ApiClient, api_url: str, pass_id: str) -> WalletDevice:
    pass_json = json.loads(unpack(download_pkpass(client, pass_id).content)["pass.json"])
    return WalletDevice(api_url, pass_id, pass_json["authenticationToken"])


def finish(client: ApiClient, response: requests.Response) -> None:
    assert response.status_code == 202, response.text
    operation = client.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation


@pytest.fixture
def signed_callbacks(fake_google: FakeGoogleControl) -> Iterator[Callable[[str, str], bytes]]:
    """Google's signed callbacks, captured instead of delivered: the test sends them all at
    once (the fake delivers its own one at a time)."""
    captured: list[bytes] = []
    lock = threading.Lock()

    def capture(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with lock:
            captured.append(body)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    with serving(capture) as url:

        def sign(pass_id: str, event_type: str) -> bytes:
            answer = fake_google.send_callback(
                url, class_id=LOYALTY_CLASS_ID, object_id=object_id(pass_id), event_type=event_type
            )
            assert answer["status"] == 200, answer
            with lock:
                return captured.pop()

        yield sign


def all_at_once(calls: list[Callable[[], requests.Response]]) -> list[int]:
    barrier = threading.Barrier(len(calls))

    def one(call: Callable[[], requests.Response]) -> int:
        barrier.wait()
        return call().status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def test_stats_follow_a_scripted_mix(
    demo: ApiClient,
    api_url: str,
    db: Any,
    fake_google: FakeGoogleControl,
    signed_callbacks: Callable[[str, str], bytes],
) -> None:
    # Other tests of the session seed passes straight into MongoDB, past the counters: two
    # sweeps (a drift is repaired on its second sighting) start this script from exact ones.
    for _ in range(2):
        reconcile(db, ["demo"], now=utcnow())
    before = today_buckets(demo)
    a, b, c, d, e, f = create_all(demo, LOYALTY, 6)
    v1, v2 = create_all(demo, VOUCHER, 2)

    # Apple: A on two devices (one install), D installed then removed.
    phone, tablet = device_for(demo, api_url, a), device_for(demo, api_url, a)
    assert phone.register().status_code == 201 and tablet.register().status_code == 201
    d_phone = device_for(demo, api_url, d)
    assert d_phone.register().status_code == 201
    assert d_phone.unregister().status_code == 200
    # Google: B saved, E saved then deleted; C in both wallets, then out of Apple only.
    for pass_id, event in ((b, "save"), (e, "save"), (e, "del"), (c, "save")):
        google_callback(fake_google, api_url, pass_id, event)
    c_phone = device_for(demo, api_url, c)
    assert c_phone.register().status_code == 201
    assert c_phone.unregister().status_code == 200
    # A voucher installed and redeemed; another redeemed without being installed.
    v1_phone = device_for(demo, api_url, v1)
    assert v1_phone.register().status_code == 201
    for voucher in (v1, v2):
        finish(demo, demo.session.post(demo.url(f"/passes/{voucher}/redeem"), json={}, timeout=10))
    # A message to C's holder (in Google Wallet): one alert that reached a holder.
    message = {"message": {"content": "Your reward is ready"}}
    notified = demo.session.put(demo.url(f"/passes/{c}/notification"), json=message, timeout=10)
    finish(demo, notified)
    # A (installed in Apple) and F deleted, B (saved in Google) erased.
    for pass_id, params in ((a, {}), (f, {}), (b, {"erase": "true"})):
        url = demo.url(f"/passes/{pass_id}")
        finish(demo, demo.session.delete(url, params=params, timeout=10))

    # 50 installs at once on one pass type: 25 passes, each saved to both wallets together.
    crowd = create_all(demo, LOYALTY, 25)
    devices = [device_for(demo, api_url, pass_id) for pass_id in crowd]
    callbacks = [signed_callbacks(pass_id, "save") for pass_id in crowd]
    google_url = f"{api_url}/google/demo/callbacks"
    calls: list[Callable[[], requests.Response]] = [device.register for device in devices]
    calls += [
        lambda body=body: requests.post(  # type: ignore[misc]
            google_url, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        for body in callbacks
    ]
    assert sorted(all_at_once(calls)) == [200] * 25 + [201] * 25

    for pass_type in (LOYALTY, VOUCHER, None):
        assert api_stats(demo, pass_type) == counted_in_db(db, pass_type), pass_type
    assert api_stats(demo, "no-such-type") == {"total": 0, "active": 0, "apple": 0, "google": 0}
    # Timeline: today's buckets moved by exactly the scripted events (an erasure and a
    # deletion are not timeline events; an uninstall is one, whichever wallet).
    assert changed(before, today_buckets(demo)) == {
        LOYALTY: {"created": 31, "installed": 6 + 50, "uninstalled": 3, "notified": 1},
        VOUCHER: {"created": 2, "installed": 1, "redeemed": 2},
    }

    report = reconcile(db, ["demo"], now=utcnow())
    assert report.drifted == {} and report.repaired == {}
    assert report.checked >= 2

    # A drift made by hand (as a worker dying between a pass write and its count would):
    # seen once and reported, then repaired by the next sweep that sees it again.
    db.pass_counters.update_one({"_id": "demo/loyalty"}, {"$inc": {"apple": 3, "total": -1}})
    first = reconcile(db, ["demo"], now=utcnow())
    assert first.drifted == {"demo/loyalty": {"total": 1, "apple": -3}}
    assert first.repaired == {}
    assert api_stats(demo, LOYALTY) != counted_in_db(db, LOYALTY)
    second = reconcile(db, ["demo"], now=utcnow())
    assert second.repaired == {"demo/loyalty": {"total": 1, "apple": -3}}
    assert api_stats(demo, LOYALTY) == counted_in_db(db, LOYALTY)
    assert reconcile(db, ["demo"], now=utcnow()).drifted == {}
    # The latest repair: the sweeps that settled the counters at the start may have repaired
    # drift left by other tests writing passes past the counters.
    recorded = db.stats_drift.find_one(
        {"passType": LOYALTY, "repairedAt": {"$ne": None}}, sort=[("repairedAt", -1)]
    )
    assert recorded["drift"] == {"total": 1, "apple": -3}


def test_installs_from_a_link_count_under_its_medium_and_tags(
    demo: ApiClient, api_url: str
) -> None:
    before = {grouping: today_buckets(demo, grouping) for grouping in ("medium", "tag")}
    [pass_id] = create_all(demo, LOYALTY, 1)
    body = {"medium": "email", "tags": ["march-email", "vip"]}
    links = demo.session.post(demo.url(f"/passes/{pass_id}/links"), json=body, timeout=10)
    assert links.status_code in (200, 201), links.text
    link = links.json()["apple"]  # on the public address: here, the test's API
    assert link.startswith(PUBLIC_URL)
    pkpass = requests.get(api_url + link.removeprefix(PUBLIC_URL), timeout=10)  # the click
    assert pkpass.status_code == 200, pkpass.text
    token = json.loads(unpack(pkpass.content)["pass.json"])["authenticationToken"]
    assert WalletDevice(api_url, pass_id, token).register().status_code == 201

    assert changed(before["medium"], today_buckets(demo, "medium")) == {"email": {"installed": 1}}
    assert changed(before["tag"], today_buckets(demo, "tag")) == {
        "march-email": {"installed": 1},
        "vip": {"installed": 1},
    }
