"""One tenant's campaign does not starve another's: a campaign keeps only a window of batches
in the (first in, first out) `bulk` queue, so a small campaign of another tenant started while
a large one runs is done long before the large one is."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.passes.documents import new_pass_document
from tests.support.api_client import ApiClient
from tests.support.processes import wait_until

LARGE = 2000  # 20 batches of 100 (PASSWIRE_CAMPAIGN_BATCH_SIZE in the test stack)
SMALL = 5


def insert_passes(db: Any, tenant: str, pass_type: str, tag: str, count: int) -> None:
    now = utcnow()
    db.passes.insert_many(
        new_pass_document(
            pass_id=new_pass_id(),
            tenant_id=tenant,
            pass_type=pass_type,
            identifiers={"crm": f"F-{tag}-{index}"},
            metadata={"store": tag},
            additional_data={},
            correlation_id="test-insert",
            now=now,
        )
        for index in range(count)
    )


def start(client: ApiClient, tag: str) -> str:
    response = client.session.post(
        client.url("/push-updates"),
        json={"filter": {"metadata": {"store": [tag]}}, "data": {"additionalData": {"n": 1}}},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["correlationId"])


@pytest.mark.usefixtures("worker")
def test_a_small_campaign_is_not_stuck_behind_a_large_one(
    demo: ApiClient, rival: ApiClient, db: Any
) -> None:
    large_tag, small_tag = secrets.token_hex(4), secrets.token_hex(4)
    insert_passes(db, "demo", "loyalty", large_tag, LARGE)
    insert_passes(db, "rival", "coupon", small_tag, SMALL)

    large = start(demo, large_tag)
    wait_until(lambda: demo.operation(large).json()["status"] == "running", timeout=30)
    small = start(rival, small_tag)
    finished = rival.wait_for_final(small, timeout=120)
    large_then = demo.operation(large).json()

    assert finished["status"] == "completed", finished
    assert finished["counters"]["processed"] == SMALL
    # The large campaign had most of its work still ahead when the small one was done.
    assert large_then["counters"]["processed"] < LARGE / 2, large_then["counters"]
    done = demo.wait_for_final(large, timeout=600)
    assert (done["status"], done["counters"]["succeeded"]) == ("completed", LARGE)
