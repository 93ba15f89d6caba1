"""Status changes reach Google Wallet: the refresh job re-renders the object and PATCHes it
with the matching state (redeemed → COMPLETED, expired → EXPIRED, blocked and voided →
INACTIVE), and an expiration date becomes the object's validity end. The passes are saved in
Google Wallet: only then does passwire call Google for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dev.fake_google import FakeGoogleControl
from tests.support.api_client import ApiClient
from tests.support.apple import create_pass
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID


def set_status(client: ApiClient, pass_id: str, **body: Any) -> dict[str, Any]:
    response = client.session.put(client.url(f"/passes/{pass_id}/status"), json=body, timeout=10)
    assert response.status_code == 202, response.text
    operation = client.wait_for_final(response.json()["correlationId"])
    assert operation["status"] == "completed", operation
    return operation


@pytest.mark.usefixtures("worker")
def test_each_status_shows_on_the_google_object(
    demo: ApiClient, fake_google: FakeGoogleControl, api_url: str
) -> None:
    pass_id = create_pass(demo)
    save_in_google_wallet(demo, fake_google, api_url, pass_id)
    object_id = f"{DEMO_ISSUER_ID}.{pass_id}"

    def google_object() -> dict[str, Any]:
        stored = fake_google.object(object_id)
        assert stored is not None
        resource: dict[str, Any] = stored["resource"]
        return resource

    assert google_object()["state"] == "ACTIVE"
    for status, state in (
        ("blocked", "INACTIVE"),
        ("active", "ACTIVE"),
        ("redeemed", "COMPLETED"),
        ("voided", "INACTIVE"),
    ):
        operation = set_status(demo, pass_id, status=status)
        assert operation["counters"]["google"]["patched"] == 1, (status, operation)
        assert google_object()["state"] == state, status

    other = create_pass(demo)
    save_in_google_wallet(demo, fake_google, api_url, other)
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    set_status(demo, other, expirationDate=expires.isoformat())
    stored = fake_google.object(f"{DEMO_ISSUER_ID}.{other}")
    assert stored is not None
    end = stored["resource"]["validTimeInterval"]["end"]["date"]
    assert datetime.fromisoformat(end) == expires
    set_status(demo, other, status="expired")
    stored = fake_google.object(f"{DEMO_ISSUER_ID}.{other}")
    assert stored is not None and stored["resource"]["state"] == "EXPIRED"
