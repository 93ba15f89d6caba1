"""Quiet hours end to end, through real processes: a message sent at 23:00 in the holder's time
zone (the pass's `metadata.timeZone`) during a 22:00-07:00 window gets its data update at once
and its alert deferred to 07:00, durably: the worker and `celery beat` are restarted, then the
deferred-alerts job, given a clock set past 07:00 and run twice, alerts exactly once.

The clock: the job takes the time to send what is due by (`now`); beat sends it without one
(the real time), which is hours before this alert is due."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from config.celery import SEND_DEFERRED_ALERTS, celery_config
from config.settings import Settings
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.infra.clock import utcnow
from tests.support.api_client import ApiClient
from tests.support.apple import WalletDevice, create_pass, download_pkpass, pass_json_of, unpack
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID
from tests.support.processes import BIN_DIR, ManagedProcess, wait_until

QUIET = {"start": "22:00", "end": "07:00"}
_RESULT = r"Task {name}\[{task_id}\] succeeded in [0-9.e-]+s: (\d+)"


def zone_where_it_is_23h(now: datetime) -> str:
    """An IANA zone (Etc/GMT±N) in which `now` is between 23:00 and 23:59."""
    offset = (23 - now.hour) % 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT-{offset}" if offset > 0 else f"Etc/GMT+{-offset}"  # POSIX signs are inverted


@pytest.fixture
def beat(stack_env: dict[str, str], tmp_path: Path) -> Iterator[ManagedProcess]:
    command = [
        str(BIN_DIR / "celery"), "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
        "--schedule", str(tmp_path / "beat-schedule"),
    ]  # fmt: skip
    process = ManagedProcess("beat", command, stack_env, r"beat: Starting")
    process.start()
    yield process
    process.stop()


def run_sender(settings: Settings, worker: ManagedProcess, now: datetime) -> int:
    """Enqueue the deferred-alerts job with its clock at `now`; what it sent, from the worker."""
    producer = Celery("quiet-hours-test")
    producer.config_from_object(celery_config(settings))
    task_id = uuid.uuid4().hex
    producer.send_task(SEND_DEFERRED_ALERTS, kwargs={"now": now.isoformat()}, task_id=task_id)
    pattern = re.compile(_RESULT.format(name=re.escape(SEND_DEFERRED_ALERTS), task_id=task_id))
    found = wait_until(lambda: pattern.search(worker.output()), 60, what="the sender to run")
    return int(found[1])


def message_field(device: WalletDevice) -> dict[str, Any] | None:
    fetched = device.fetch()
    assert fetched.status_code == 200, fetched.text
    back = json.loads(unpack(fetched.content)["pass.json"])["storeCard"]["backFields"]
    found = [item for item in back if item["key"] == "passwire.message"]
    return found[0] if found else None


def test_an_alert_at_23h_waits_for_7h_survives_restarts_and_alerts_once(  # noqa: PLR0917
    demo: ApiClient,
    api_url: str,
    settings: Settings,
    worker: ManagedProcess,
    beat: ManagedProcess,
    fake_apns: FakeApnsControl,
    fake_google: FakeGoogleControl,
) -> None:
    zone = zone_where_it_is_23h(utcnow())
    pass_id = create_pass(
        demo,
        identifiers={"crm": f"Q-{secrets.token_hex(4)}"},
        metadata={"timeZone": zone},
        additionalData={"points": 10},
    )
    device = WalletDevice(
        api_url, pass_id, pass_json_of(download_pkpass(demo, pass_id))["authenticationToken"]
    )
    assert device.register().status_code == 201
    save_in_google_wallet(demo, fake_google, api_url, pass_id)
    body = {
        "filter": {"ids": [pass_id]},
        "data": {"additionalData": {"points": 20}},
        "message": {"content": "Your card was topped up"},  # transactional
        "quietHours": QUIET,  # the campaign's own quiet hours hold any kind of message
    }
    response = demo.session.post(demo.url("/push-updates"), json=body, timeout=10)
    assert response.status_code == 202, response.text
    correlation_id = response.json()["correlationId"]
    sent_at = utcnow()
    operation = demo.wait_for_final(correlation_id)

    # Deferred, and visible on the operation: when it goes, how many wait.
    local = sent_at.astimezone(ZoneInfo(zone))
    assert local.hour == 23 or (local.hour == 0 and local.minute == 0), local
    due_day = local.date() + timedelta(days=1) if local.hour == 23 else local.date()
    due = datetime.combine(due_day, time(7), tzinfo=ZoneInfo(zone))
    counters = operation["counters"]
    assert counters["suppressed"]["quietHours"] == 1
    assert counters["deferred"] == 1
    assert datetime.fromisoformat(operation["nextAt"]) == due
    # The data update went at once: pushed, fetched, no message on it yet.
    assert len(fake_apns.pushes(device.push_token)) == 1
    assert demo.get_pass(pass_id).json()["additionalData"]["points"] == 20
    assert message_field(device) is None
    google = fake_google.object(f"{DEMO_ISSUER_ID}.{pass_id}")
    assert google is not None
    assert google["resource"]["loyaltyPoints"]["balance"] == {"string": "20"}
    assert google["messages"] == []

    # Nothing is due before 07:00; then the worker and beat restart.
    assert run_sender(settings, worker, due - timedelta(minutes=1)) == 0
    worker.stop()
    beat.stop()
    worker.start()
    beat.start()

    # 07:00 in the holder's zone: the alert goes, once, however often the sender runs.
    assert run_sender(settings, worker, due + timedelta(seconds=1)) == 1
    assert run_sender(settings, worker, due + timedelta(seconds=2)) == 0

    pushes = fake_apns.pushes(device.push_token)
    assert len(pushes) == 2  # the data update, then the alert
    field = message_field(device)
    assert field is not None and field["changeMessage"] == "%@", field
    assert field["value"] == f"msg-{correlation_id}"
    google = fake_google.object(f"{DEMO_ISSUER_ID}.{pass_id}")
    assert google is not None
    assert [(m["id"], m["messageType"]) for m in google["messages"]] == [
        (correlation_id, "TEXT_AND_NOTIFY")
    ]
    after = demo.operation(correlation_id).json()
    assert after["counters"]["deferred"] == 0
    assert after["counters"]["apple"]["notified"] == 1
    assert after["counters"]["google"]["notified"] == 1
    assert "nextAt" not in after or after["nextAt"] is None
