"""Google's quota holds across workers: with the fake Google Wallet API refusing more than 20
requests in any second for the issuer, a 500-pass update run by several worker processes at
once PATCHes every object and never gets a 429, because every call takes its slot from the
issuer's limiter in Redis. The operation shows the pacing (requests made, time spent waiting).

How long it takes is measured by `bench/google_pacing_bench.py`, not asserted here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from config.celery import QUEUES
from dev.fake_google import FakeGoogleControl
from shared.google.passtype import render_google_class
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.passes.documents import new_pass_document
from shared.passes.google_versions import new_google_version
from shared.tenancy.tenants import load_registry
from tests.support.api_client import ApiClient
from tests.support.google import FakeGoogleProcess, wallet_session
from tests.support.google_tenants import PACED_ISSUER_ID, PACED_RPS
from tests.support.processes import ManagedProcess, worker_command

PASSES = 500
WORKERS = 4


@pytest.fixture(scope="module")
def four_workers(stack_env: dict[str, str]) -> Iterator[ManagedProcess]:
    """Four more worker processes on every queue, beside the session's worker."""
    process = ManagedProcess(
        "paced-workers",
        worker_command(",".join(QUEUES), "paced", concurrency=WORKERS),
        stack_env,
        r"\bready\.",
    )
    process.start(60)
    yield process
    process.stop()


def insert_synced_passes(
    db: Any, settings: Any, fake_google_server: FakeGoogleProcess, tag: str
) -> list[str]:
    """PASSES Google-only passes whose objects Google already holds, as the create job
    leaves them (inserted here directly, with the fake's quota lifted meanwhile)."""
    registry = load_registry(settings.tenants_dir, include_local_only=True)
    tenant = registry.get("demo")
    assert tenant is not None
    pass_type = tenant.pass_types["paced"]
    assert pass_type.google is not None
    session = wallet_session(fake_google_server.service_account.key_file)
    rest = f"{fake_google_server.base_url}/walletobjects/v1"
    google_class = render_google_class(pass_type.google, callback_url="https://example.com/cb")
    assert session.post(f"{rest}/loyaltyClass", json=google_class).status_code in (200, 409)
    now = utcnow()
    documents = []
    for index in range(PASSES):
        document = new_pass_document(
            pass_id=new_pass_id(),
            tenant_id="demo",
            pass_type="paced",
            identifiers={"crm": f"P-{tag}-{index}"},
            metadata={"store": tag},
            additional_data={"points": 1},
            correlation_id="test-insert",
            now=now,
        )
        google = new_google_version(pass_type, document, now=now)
        assert google is not None
        google["syncedHash"] = google["contentHash"]
        document["google"] = google
        answer = session.post(f"{rest}/loyaltyObject", json=google["object"])
        assert answer.status_code == 200, answer.text
        documents.append(document)
    db.passes.insert_many(documents)
    return [document["_id"] for document in documents]


def max_in_any_second(times: list[float]) -> int:
    """The most requests that arrived within any 1-second span."""
    times, most, first = sorted(times), 0, 0
    for last, arrived in enumerate(times):
        while arrived - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.mark.usefixtures("worker", "four_workers")
def test_a_500_pass_update_never_exceeds_the_issuer_quota(
    demo: ApiClient,
    db: Any,
    settings: Any,
    fake_google: FakeGoogleControl,
    fake_google_server: FakeGoogleProcess,
) -> None:
    tag = os.urandom(4).hex()
    fake_google.configure(quota_rps=0)  # no quota while the test sets Google up
    pass_ids = insert_synced_passes(db, settings, fake_google_server, tag)
    time.sleep(1.1)  # the set-up's calls leave the fake's 1-second window before the quota
    fake_google.configure(quota_rps=PACED_RPS)
    started = time.time()

    response = demo.session.post(
        demo.url("/push-updates"),
        json={"filter": {"metadata": {"store": [tag]}}, "data": {"additionalData": {"points": 2}}},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    operation = demo.wait_for_final(response.json()["correlationId"], timeout=180)

    assert operation["status"] == "completed", operation
    counters = operation["counters"]
    assert counters["succeeded"] == PASSES
    assert counters["google"]["patched"] == PASSES
    assert counters["google"]["failed"] == 0
    # The pacing: a call per pass (and per worker process, once, the class: an insert, then a
    # PATCH as it exists; the session worker too), and the workers had to wait for slots.
    assert PASSES <= counters["google"]["requests"] <= PASSES + 2 * (WORKERS + 1)
    assert counters["google"]["waitedMs"] > 0

    state = fake_google.state()
    calls = [e for e in state["log"] if e["issuer"] == PACED_ISSUER_ID and e["time"] >= started]
    patches = [call for call in calls if call["method"] == "PATCH" and "Object/" in call["path"]]
    assert len(patches) == PASSES
    assert {call["status"] for call in patches} == {200}  # nothing refused, nothing retried
    assert 429 not in {call["status"] for call in calls}  # class inserts (409) included
    assert state["counters"]["rate_limited"] == 0
    assert max_in_any_second([call["time"] for call in calls]) <= PACED_RPS
    patched = [state["objects"][f"{PACED_ISSUER_ID}.{pass_id}"] for pass_id in pass_ids]
    assert all(entry["patch_count"] == 1 for entry in patched)
    assert {entry["resource"]["loyaltyPoints"]["balance"]["string"] for entry in patched} == {"2"}
