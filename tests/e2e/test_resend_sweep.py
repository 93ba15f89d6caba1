"""A Google object that Google refused through every retry is not left behind: the resend
sweep, sent by a real `celery beat`, refreshes the pass once it has been owed long enough, and
Google then holds the current object. Through HTTP → Redis → the worker → MongoDB → the fake
Google Wallet API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dev.fake_google import FakeGoogleControl
from shared.clients.google_wallet import RetryPolicy
from tests.support.api_client import ApiClient
from tests.support.apple import create_pass, update_pass
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID
from tests.support.processes import BIN_DIR, ManagedProcess, wait_until


@pytest.fixture
def resend_beat(stack_env: dict[str, str], tmp_path: Path) -> Iterator[ManagedProcess]:
    """`celery beat` as the Procfile runs it, sending the resend sweep every second for passes
    owed two seconds or more."""
    command = [
        str(BIN_DIR / "celery"), "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
        "--schedule", str(tmp_path / "beat-schedule"),
    ]  # fmt: skip
    env = {**stack_env, "PASSWIRE_RESEND_INTERVAL_S": "1", "PASSWIRE_RESEND_AFTER_S": "2"}
    process = ManagedProcess("beat", command, env, r"beat: Starting")
    process.start()
    yield process
    process.stop()


def _completed_resends(client: ApiClient) -> list[dict[str, Any]]:
    listed = client.session.get(
        client.url("/operations"),
        # Other tests' owed passes are resent too while this beat runs: one page holds them all.
        params={"kind": "resend", "status": "completed", "pageSize": 200},
        timeout=10,
    )
    assert listed.status_code == 200, listed.text
    return list(listed.json())


@pytest.mark.usefixtures("worker")
def test_an_object_google_refused_is_resent_by_the_sweep(
    demo: ApiClient,
    fake_google: FakeGoogleControl,
    request: pytest.FixtureRequest,
    api_url: str,
    db: Any,
) -> None:
    pass_id = create_pass(demo, identifiers={"crm": "R-1"}, additionalData={"points": 1})
    save_in_google_wallet(demo, fake_google, api_url, pass_id)
    # A pass nobody saved owes Google its object too, until its next click: not the sweep's.
    unsaved = create_pass(demo, identifiers={"crm": "R-0"})
    object_id = f"{DEMO_ISSUER_ID}.{pass_id}"
    # Unavailable for every attempt of the update's PATCH (retried with backoff), then back.
    fake_google.fail_next(object_id, status=503, count=RetryPolicy().attempts, method="PATCH")
    refused = update_pass(demo, pass_id, {"additionalData": {"points": 2}})
    assert refused["status"] == "completed"
    assert refused["counters"]["google"]["failed"] == 1
    stored = fake_google.object(object_id)
    assert stored is not None and stored["resource"]["loyaltyPoints"]["balance"] == {"string": "1"}

    assert fake_google.state(include_log=False)["config"]["fail_next"] == []  # Google is back
    request.getfixturevalue("resend_beat")

    def held_by_google() -> bool:
        stored = fake_google.object(object_id)
        return stored is not None and stored["resource"]["loyaltyPoints"]["balance"] == {
            "string": "2"
        }

    wait_until(held_by_google, 60, interval=0.5, what="the sweep to resend the object")

    def counted() -> bool:  # the resend operation completes just after Google answers it
        return 1 in [op["counters"]["google"]["patched"] for op in _completed_resends(demo)]

    # An operation of kind `resend` counts the PATCH.
    wait_until(counted, 30, interval=0.5, what="the resend operation to count the PATCH")
    # Once Google holds it, the pass is no longer owed: later sweeps leave it alone, and a pass
    # whose object Google took at once is never resent.
    other = create_pass(demo, identifiers={"crm": "R-2"})
    save_in_google_wallet(demo, fake_google, api_url, other)
    calls = fake_google.object(object_id)["patch_count"]  # type: ignore[index]
    time.sleep(4)  # four more sweeps
    assert fake_google.object(object_id)["patch_count"] == calls  # type: ignore[index]
    assert fake_google.object(f"{DEMO_ISSUER_ID}.{other}")["patch_count"] == 0  # type: ignore[index]
    assert fake_google.object(f"{DEMO_ISSUER_ID}.{unsaved}") is None
    assert db.passes.find_one({"_id": unsaved})["googlePending"] is True
    assert "resendAfter" not in db.passes.find_one({"_id": unsaved})  # never claimed
