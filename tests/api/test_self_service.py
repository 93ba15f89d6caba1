"""Self-service issuing: no API key, identifiers vouched for by the brand's HMAC signature
or the tenant's allowlist; the same identifiers return the same pass; nothing is written for
a refused request."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from shared.self_service import sign_identifier
from tests.conftest import DEMO_HMAC_SECRET_ENV, DEMO_KEY

SECRET = "demo-self-service-secret-for-tests-0123456789"
URL = "/api/demo/passes?passType=loyalty"


@pytest.fixture
def client(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(DEMO_HMAC_SECRET_ENV, SECRET)
    return app.test_client()


@pytest.fixture
def nothing_written(db: Any) -> Iterator[None]:
    def counts() -> tuple[int, int, int]:
        return (
            db.operations.count_documents({}),
            db.passes.count_documents({}),
            db.self_service_claims.count_documents({}),
        )

    before = counts()
    yield
    assert counts() == before


def _signed(value: str) -> dict[str, str]:
    return {"crm": value, "crm.hmac": sign_identifier(SECRET.encode(), value)}


def test_a_signed_identifier_issues_a_pass_once(client: Any, db: Any) -> None:
    identifiers = _signed(f"C-{secrets.token_hex(4)}")
    first = client.post(URL, json={"identifiers": identifiers})
    assert first.status_code == 202, first.get_json()
    operation = db.operations.find_one({"_id": first.get_json()["correlationId"]})
    # The signature is checked, never stored.
    assert operation["intent"]["identifiers"] == {"crm": identifiers["crm"]}
    again = client.post(URL, json={"identifiers": identifiers})
    assert again.status_code == 200
    assert again.get_json() == first.get_json()


def test_an_allowlisted_identifier_needs_no_signature(client: Any) -> None:
    response = client.post(URL, json={"identifiers": {"crm": "C-ALLOWLISTED"}})
    assert response.status_code in {200, 202}
    assert response.get_json()["passId"]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    "identifiers",
    [
        {"crm": "C-2", "crm.hmac": sign_identifier(SECRET.encode(), "C-1")},  # tampered value
        {"crm": "C-1", "crm.hmac": "0" * 64},  # forged signature
        {"crm": "C-1"},  # neither signed nor allowlisted
        {"crm": "C-1", "crm.hmac": sign_identifier(b"another-secret-entirely-0123456789", "C-1")},
    ],
)
def test_an_identifier_not_vouched_for_is_401(client: Any, identifiers: dict[str, str]) -> None:
    response = client.post(URL, json={"identifiers": identifiers})
    assert response.status_code == 401
    assert response.get_json()["errors"][0]["field"] == "identifiers.crm"


@pytest.mark.usefixtures("nothing_written")
def test_self_service_takes_identifiers_only(client: Any) -> None:
    body = {"identifiers": _signed("C-9"), "metadata": {"tier": "gold"}}
    response = client.post(URL, json=body)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "metadata"


@pytest.mark.usefixtures("nothing_written")
def test_without_a_credential_nothing_else_is_open(client: Any) -> None:
    assert client.get("/api/demo/passes").status_code == 401
    assert client.get(f"/api/demo/operations/{'0' * 32}").status_code == 401
    assert (
        client.post("/api/rival/passes?passType=coupon", json={"identifiers": {}}).status_code
        == 401
    )


def test_a_credentialed_caller_may_send_signatures_that_are_dropped(client: Any, db: Any) -> None:
    identifiers = _signed("C-WITH-KEY")
    response = client.post(URL, json={"identifiers": identifiers}, headers={"X-API-Key": DEMO_KEY})
    assert response.status_code == 202
    operation = db.operations.find_one({"_id": response.get_json()["correlationId"]})
    assert "intent" not in operation or operation["intent"]["identifiers"] == {"crm": "C-WITH-KEY"}


@pytest.mark.usefixtures("nothing_written")
def test_a_signature_without_its_identifier_is_422(client: Any) -> None:
    response = client.post(URL, json={"identifiers": {"crm.hmac": "a" * 64}})
    assert response.status_code == 422
    assert "identifiers.crm.hmac" in {e["field"] for e in response.get_json()["errors"]}
