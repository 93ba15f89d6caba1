"""Links by API at the HTTP edge (no worker runs the jobs the API queues here): what a links
request takes and refuses, links in the 202 of `POST /passes` and of self-service, the
download page of a pass whose create job has not run yet, and multi-pass refusals."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.infra.ids import new_pass_id
from shared.links import link_secret, verify_link
from shared.self_service import sign_identifier
from tests.conftest import DEMO_HMAC_SECRET_ENV, DEMO_KEY, RIVAL_KEY
from tests.support.apple import PUBLIC_URL

DEMO = {"X-API-Key": DEMO_KEY}
SECRET = "demo-self-service-secret-for-tests-0123456789"


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def _create(client: Any, body: dict[str, Any], headers: dict[str, str] | None = DEMO) -> Any:
    return client.post("/api/demo/passes?passType=loyalty", json=body, headers=headers or {})


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _check_links(links: dict[str, Any], pass_id: str, days: int) -> None:
    base = f"{PUBLIC_URL}/api/demo/passes/{pass_id}"
    assert urlsplit(links["url"]).path == urlsplit(f"{base}/view").path
    assert links["url"].startswith(f"{base}/view?")
    assert links["apple"].startswith(f"{base}/download/apple?")
    assert links["google"].startswith(f"{base}/download/google?")
    expires = datetime.fromisoformat(links["expiresAt"])
    expected = datetime.now(UTC) + timedelta(days=days)
    assert abs((expires - expected).total_seconds()) < 120
    secret = link_secret("demo", is_local=True, configured="")
    assert secret is not None
    for url in (links["url"], links["apple"], links["google"]):
        query = _query(url)
        assert query["medium"] == ["email"] and query["tags"] == ["march-email,vip"]
        check = verify_link(secret, "demo", pass_id, query["t"][0], int(time.time()))
        assert check.value == "valid"
        # One token for the three, expiring when the answer says.
        assert int(query["t"][0].split(".")[0]) == int(expires.timestamp())


WANTED = {"medium": "email", "tags": ["march-email", "vip"], "expiresInDays": 7}


def test_create_answers_links_and_the_page_says_the_pass_is_being_prepared(
    client: Any, db: Any
) -> None:
    response = _create(client, {"identifiers": {"crm": "L-1"}, "links": WANTED})
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    _check_links(accepted["links"], accepted["passId"], days=7)
    # The links are not part of the job: the intent holds the pass's data only.
    operation = db.operations.find_one({"_id": accepted["correlationId"]})
    assert "links" not in operation["intent"]

    # The job has not run (no worker here): the page says so, and refreshes itself.
    page = client.get(accepted["links"]["url"].removeprefix(PUBLIC_URL))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Your pass is being prepared" in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert page.headers["Cache-Control"] == "private, no-store"
    # The direct links have nothing to serve yet: a 404, no click recorded.
    apple = client.get(accepted["links"]["apple"].removeprefix(PUBLIC_URL))
    assert apple.status_code == 404
    assert db.install_clicks.count_documents({"passId": accepted["passId"]}) == 0

    # Once the job is over (here: failed), the same link is a plain 404 page.
    db.operations.update_one({"_id": accepted["correlationId"]}, {"$set": {"status": "failed"}})
    gone = client.get(accepted["links"]["url"].removeprefix(PUBLIC_URL))
    assert gone.status_code == 404
    assert "This pass cannot be shown" in gone.get_data(as_text=True)


def test_without_links_the_202_is_unchanged(client: Any) -> None:
    response = _create(client, {"identifiers": {"crm": "L-2"}})
    assert response.status_code == 202
    assert set(response.get_json()) == {"correlationId", "passId"}


def test_self_service_answers_links_too(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEMO_HMAC_SECRET_ENV, SECRET)
    value = f"C-{secrets.token_hex(4)}"
    identifiers = {"crm": value, "crm.hmac": sign_identifier(SECRET.encode(), value)}
    first = _create(client, {"identifiers": identifiers, "links": WANTED}, headers=None)
    assert first.status_code == 202, first.get_json()
    _check_links(first.get_json()["links"], first.get_json()["passId"], days=7)
    # The same identifiers again: the pass issued before, with links to it.
    again = _create(client, {"identifiers": identifiers, "links": WANTED}, headers=None)
    assert again.status_code == 200
    assert again.get_json()["passId"] == first.get_json()["passId"]
    _check_links(again.get_json()["links"], first.get_json()["passId"], days=7)


@pytest.mark.parametrize(
    ("links", "field"),
    [
        ({"medium": "E-Mail!"}, "medium"),
        ({"medium": 3}, "medium"),
        ({"tags": "march"}, "tags"),
        ({"tags": ["ok", "no spaces"]}, "tags.1"),
        ({"tags": [f"t{n}" for n in range(11)]}, "tags"),
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"expiresInDays": 366}, "expiresInDays"),
        ({"expiresInDays": "7"}, "expiresInDays"),
        ({"expiresInDays": 1.5}, "expiresInDays"),
        ({"expiresInDays": True}, "expiresInDays"),
        ({"campaign": "march"}, "campaign"),
    ],
)
def test_bad_links_are_422_naming_the_field(
    client: Any, db: Any, links: dict[str, Any], field: str
) -> None:
    pass_id = _stored_pass(db)
    direct = client.post(f"/api/demo/passes/{pass_id}/links", json=links, headers=DEMO)
    assert direct.status_code == 422, direct.get_json()
    assert [error["field"] for error in direct.get_json()["errors"]] == [field]
    before = db.operations.count_documents({})
    on_create = _create(client, {"identifiers": {"crm": "L-3"}, "links": links})
    assert on_create.status_code == 422
    assert [error["field"] for error in on_create.get_json()["errors"]] == [f"links.{field}"]
    assert db.operations.count_documents({}) == before  # nothing queued


def _stored_pass(db: Any, tenant: str = "demo") -> str:
    """A pass document as the links endpoint needs it (it only checks that it exists)."""
    pass_id = new_pass_id()
    db.passes.insert_one({"_id": pass_id, "tenant": tenant, "passType": "loyalty"})
    return pass_id


def test_links_of_a_pass_and_tenant_isolation(client: Any, db: Any) -> None:
    pass_id = _stored_pass(db)
    response = client.post(f"/api/demo/passes/{pass_id}/links", json=WANTED, headers=DEMO)
    assert response.status_code == 200, response.get_json()
    _check_links(response.get_json(), pass_id, days=7)
    default = client.post(f"/api/demo/passes/{pass_id}/links", json={}, headers=DEMO)
    assert default.status_code == 200
    assert "medium" not in _query(default.get_json()["url"])
    expires = datetime.fromisoformat(default.get_json()["expiresAt"])
    assert abs((expires - datetime.now(UTC) - timedelta(days=30)).total_seconds()) < 120

    # A link whose tags were tampered with into malformed ones: 422, no click recorded.
    apple = response.get_json()["apple"].removeprefix(PUBLIC_URL)
    tampered = client.get(apple.replace("tags=march-email", "tags=march+email"))
    assert tampered.status_code == 422
    assert tampered.get_json()["errors"][0]["field"] == "tags"
    assert db.install_clicks.count_documents({"passId": pass_id}) == 0

    unknown = client.post(f"/api/demo/passes/{new_pass_id()}/links", json={}, headers=DEMO)
    assert unknown.status_code == 404
    # Another tenant's key, on this tenant's path or its own: nothing of this pass.
    rival = {"X-API-Key": RIVAL_KEY}
    assert (
        client.post(f"/api/demo/passes/{pass_id}/links", json={}, headers=rival).status_code == 403
    )
    assert (
        client.post(f"/api/rival/passes/{pass_id}/links", json={}, headers=rival).status_code == 404
    )
    assert client.post(f"/api/demo/passes/{pass_id}/links", json={}).status_code == 401


def test_several_passes_are_all_or_nothing(client: Any, db: Any) -> None:
    ours = [_stored_pass(db) for _ in range(3)]
    foreign = _stored_pass(db, tenant="rival")
    unknown = new_pass_id()

    def get(ids: list[str], device: str = "apple") -> Any:
        return client.get(f"/api/demo/passes/{','.join(ids)}?device={device}", headers=DEMO)

    eleven = get([*ours, *(new_pass_id() for _ in range(8))])
    assert eleven.status_code == 422
    assert eleven.get_json()["errors"] == [
        {"field": "passId", "reason": "at most 10 passes in one download, got 11"}
    ]
    for device in ("apple", "google"):
        mixed = get([*ours, foreign, unknown], device)
        assert mixed.status_code == 404, mixed.get_json()
        assert mixed.headers["Content-Type"] == "application/json"
        reason = mixed.get_json()["errors"][0]["reason"]
        assert reason == f"no such pass: {foreign}, {unknown}"
    repeated = get([ours[0], ours[0]])
    assert repeated.status_code == 422
    assert get(ours, "preview").status_code == 422
    # Links for a list refuse the same way, and mint nothing.
    links = client.post(f"/api/demo/passes/{ours[0]},{foreign}/links", json={}, headers=DEMO)
    assert links.status_code == 404
    assert db.install_clicks.count_documents({"passId": {"$in": ours}}) == 0


def test_barcode_search_parameter_is_checked(client: Any) -> None:
    twice = client.get("/api/demo/passes?barcode=a&barcode=b", headers=DEMO)
    assert twice.status_code == 422
    assert twice.get_json()["errors"] == [{"field": "barcode", "reason": "give it at most once"}]
    empty = client.get("/api/demo/passes?barcode=", headers=DEMO)
    assert empty.status_code == 422
    assert [error["field"] for error in empty.get_json()["errors"]] == ["barcode"]


def test_install_stats_parameters(client: Any) -> None:
    ok = client.get("/api/demo/passes/stats/installs?by=tag", headers=DEMO)
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["windowHours"] == 24
    for query, field in (
        ("by=campaign", "by"),
        ("", "by"),
        ("by=tag&from=yesterday", "from"),
        ("by=tag&to=2026-03-01T00:00:00", "to"),  # no offset: ambiguous
        ("by=tag&group=x", "group"),
    ):
        bad = client.get(f"/api/demo/passes/stats/installs?{query}", headers=DEMO)
        assert bad.status_code == 422, (query, bad.get_json())
        assert [error["field"] for error in bad.get_json()["errors"]] == [field], query
