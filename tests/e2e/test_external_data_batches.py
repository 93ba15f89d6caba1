"""External data by batch, end to end (issue #15): HTTP → Redis → a real worker → MongoDB → the
fake CRM. With the CRM's batch form declared, a campaign calls it once per campaign batch (500
passes), and so does its preview, and an import once per import batch (100 rows); ids its
answer lacks fail those passes only, with the reason. Without the batch form, a campaign still
fetches one pass at a time.

The API process (the session's) needs no provider for campaigns and imports: it plans, the
worker fetches. So the batch form is declared in a copy of the session's tenants read by a
worker of this module only, which runs campaign batches of 500 (the session's run 100) and
holds the `bulk` queue for the length of a test (other workers are kept off it meanwhile, as
tests/e2e/test_worker_crash.py does)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.celery import BULK_QUEUE
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.passes.documents import new_pass_document
from shared.providers.fetching import NOT_IN_BATCH_ANSWER
from tests.e2e.test_imports import as_cell, results_csv, upload
from tests.e2e.test_push_updates import start_campaign
from tests.support.api_client import ApiClient
from tests.support.broker import queue_withheld
from tests.support.crm import DEMO_PROVIDERS, RunningCrm
from tests.support.processes import ManagedProcess, worker_command

CAMPAIGN_BATCH = 500
BATCH_FORM = """
[providers.batch]
method = "POST"
url = "$DEMO_CRM_URL/customers/batch"
ids_body_field = "ids"
max_ids = 500
answers = "customers"
"""
MISSING_REASON = f"external data provider 'crm': {NOT_IN_BATCH_ANSWER}"


@pytest.fixture(scope="module")
def batch_tenants(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tenants, the demo CRM provider with its batch form."""
    root = tmp_path_factory.mktemp("batch-tenants") / "tenants"
    shutil.copytree(settings.tenants_dir, root)
    toml = root / "demo" / "tenant.toml"
    text = toml.read_text()
    assert DEMO_PROVIDERS in text, "the demo provider moved: update this test"
    toml.write_text(text.replace(DEMO_PROVIDERS, DEMO_PROVIDERS + BATCH_FORM))
    return root


@pytest.fixture
def batch_worker(
    stack_env: dict[str, str], redis_url: str, batch_tenants: Path
) -> Iterator[ManagedProcess]:
    """A worker on `bulk` alone, with the batch form and batches of CAMPAIGN_BATCH."""
    env = {
        **stack_env,
        "PASSWIRE_TENANTS_DIR": str(batch_tenants),
        "PASSWIRE_CAMPAIGN_BATCH_SIZE": str(CAMPAIGN_BATCH),
    }
    process = ManagedProcess("batch-worker", worker_command(BULK_QUEUE, "batch"), env, r"\bready\.")
    with queue_withheld(redis_url, BULK_QUEUE):
        process.start()
        try:
            yield process
        finally:
            process.stop()


def seed_members(
    db: Any, crm: RunningCrm, store: str, count: int, *, unknown: int = 0
) -> list[str]:
    """`count` member passes of `store` inserted as issued (customer B-<store>-<n>), each
    known to the CRM but the last `unknown`; returns their ids in order."""
    now, documents = utcnow(), []
    for number in range(count):
        customer = f"B-{store}-{number}"
        documents.append(
            new_pass_document(
                pass_id=new_pass_id(),
                tenant_id="demo",
                pass_type="member",
                identifiers={"crm": customer},
                metadata={"store": store, "tier": "Bean"},
                additional_data={"points": 0},
                correlation_id="batch-test-seed",
                now=now,
            )
        )
        if number < count - unknown:
            crm.crm.put_customer(customer, {"first_name": "B", "loyalty": {"points": number}})
    db.passes.insert_many(documents)
    return [document["_id"] for document in documents]


def crm_calls(crm: RunningCrm) -> tuple[int, list[int]]:
    """(requests of any form, ids per batch request) answered so far."""
    stats = crm.crm.stats()
    return stats["requests"], stats["batch_sizes"]


def campaign(demo: ApiClient, store: str, *, dry_run: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filter": {"passType": ["member"], "metadata": {"store": [store]}},
        "data": {"metadata": {"tier": "Gold"}},
    }
    if dry_run:  # over PREVIEW_AT_ONCE passes: a preview operation, run by the worker
        body["dryRun"] = True
    operation = demo.wait_for_final(start_campaign(demo, body), timeout=300)
    assert operation is not None
    return operation


@pytest.mark.usefixtures("worker")
def test_a_provider_without_batch_form_is_still_called_per_pass(
    demo: ApiClient, db: Any, fake_crm: RunningCrm
) -> None:
    store = secrets.token_hex(4)
    seed_members(db, fake_crm, store, 30)
    requests_before, batches_before = crm_calls(fake_crm)
    operation = campaign(demo, store)
    assert operation["status"] == "completed", operation
    assert operation["counters"]["succeeded"] == 30
    requests_after, batches_after = crm_calls(fake_crm)
    assert requests_after - requests_before == 30  # one GET per pass
    assert batches_after == batches_before  # and no batch request


def test_a_campaign_calls_the_batch_form_once_per_batch_and_fails_only_missing_ids(
    batch_worker: ManagedProcess, demo: ApiClient, db: Any, fake_crm: RunningCrm
) -> None:
    store = secrets.token_hex(4)
    pass_ids = seed_members(db, fake_crm, store, 1200, unknown=2)

    # The preview fetches as the campaign will: per batch, the 2 unknown ids failing.
    requests_before, batches_before = crm_calls(fake_crm)
    preview = campaign(demo, store, dry_run=True)
    assert (preview["kind"], preview["status"]) == ("preview", "completed_with_errors"), preview
    assert (preview["preview"]["wouldChange"], preview["preview"]["failed"]) == (1198, 2)
    requests_after, batches_after = crm_calls(fake_crm)
    assert requests_after - requests_before == 3
    assert sorted(batches_after[len(batches_before) :]) == [200, 500, 500]

    requests_before, batches_before = crm_calls(fake_crm)
    operation = campaign(demo, store)

    assert operation["status"] == "completed_with_errors", operation
    counters = operation["counters"]
    assert (counters["total"], counters["processed"]) == (1200, 1200)
    assert (counters["succeeded"], counters["failed"]) == (1198, 2)
    assert sorted(operation["errors"], key=lambda e: e["id"]) == sorted(
        [{"id": pass_id, "reason": MISSING_REASON} for pass_id in pass_ids[-2:]],
        key=lambda e: e["id"],
    )
    requests_after, batches_after = crm_calls(fake_crm)
    assert requests_after - requests_before == 3  # three batch requests, no GET per pass
    assert sorted(batches_after[len(batches_before) :]) == [200, 500, 500]

    stored = {d["_id"]: d for d in db.passes.find({"_id": {"$in": pass_ids}})}
    assert {stored[p]["metadata"]["tier"] for p in pass_ids[:-2]} == {"Gold"}
    assert {stored[p]["metadata"]["tier"] for p in pass_ids[-2:]} == {"Bean"}  # untouched


def test_an_import_calls_the_batch_form_once_per_import_batch(
    batch_worker: ManagedProcess, demo: ApiClient, db: Any, fake_crm: RunningCrm
) -> None:
    store = secrets.token_hex(4)
    pass_ids = seed_members(db, fake_crm, store, 250, unknown=1)
    rows = "".join(f"B-{store}-{number};Silver\r\n" for number in range(250))
    requests_before, batches_before = crm_calls(fake_crm)
    correlation_id = upload(demo, ("id.crm;metadata.tier\r\n" + rows).encode())
    operation = demo.wait_for_final(correlation_id, timeout=300)

    assert operation["status"] == "completed_with_errors", operation
    assert (operation["counters"]["succeeded"], operation["counters"]["failed"]) == (249, 1)
    requests_after, batches_after = crm_calls(fake_crm)
    assert requests_after - requests_before == 3  # import batches of 100 rows
    assert sorted(batches_after[len(batches_before) :]) == [50, 100, 100]
    results = {line[0]: line[1:] for line in results_csv(demo, correlation_id)[1:]}
    assert results["251"] == [as_cell(pass_ids[-1]), "failed", MISSING_REASON]
    assert results["2"] == [as_cell(pass_ids[0]), "succeeded", ""]
