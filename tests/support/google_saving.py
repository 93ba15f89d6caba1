"""A holder saving a pass to Google Wallet, as the tests play it: the Save link click (passwire's
redirect endpoint, which sends Google the object) and Google's signed save/del callback."""

from __future__ import annotations

from typing import Any

from dev.fake_google import FakeGoogleControl
from tests.support.api_client import ApiClient
from tests.support.google_tenants import DEMO_ISSUER_ID

SAVE_PREFIX = "https://pay.google.com/gp/v/save/"
LOYALTY_CLASS_ID = f"{DEMO_ISSUER_ID}.demo-loyalty"


def object_id(pass_id: str) -> str:
    return f"{DEMO_ISSUER_ID}.{pass_id}"


def click_save_link(client: ApiClient, pass_id: str, **headers: str) -> str:
    """Follow the pass's Google button (`?device=google`); the Save link's JWT."""
    response = client.session.get(
        client.url(f"/passes/{pass_id}"),
        params={"device": "google"},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(SAVE_PREFIX)
    return location.removeprefix(SAVE_PREFIX)


def google_callback(
    fake_google: FakeGoogleControl,
    api_url: str,
    pass_id: str,
    event_type: str,
    *,
    class_id: str = LOYALTY_CLASS_ID,
    tenant: str = "demo",
) -> dict[str, Any]:
    """Google's signed `save` or `del` callback for the pass, answered 200."""
    answer = fake_google.send_callback(
        f"{api_url}/google/{tenant}/callbacks",
        class_id=class_id,
        object_id=object_id(pass_id),
        event_type=event_type,
    )
    assert answer["status"] == 200, answer
    return answer


def save_in_google_wallet(
    client: ApiClient,
    fake_google: FakeGoogleControl,
    api_url: str,
    pass_id: str,
    *,
    class_id: str = LOYALTY_CLASS_ID,
) -> None:
    """Click the Save link, then save: Google holds the object and passwire knows a holder."""
    click_save_link(client, pass_id)
    google_callback(fake_google, api_url, pass_id, "save", class_id=class_id, tenant=client.tenant)
