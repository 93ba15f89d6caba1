"""Status, redeem and balance endpoints in the API process: each change decided at once in
MongoDB and its refresh job queued; every refusal a 4xx naming the field, with nothing
changed and nothing queued. The job queue is a recording stand-in here (the end-to-end
tests in tests/e2e/test_lifecycle.py run the jobs)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared import operations
from shared.credentials.api_keys import issue_key
from shared.credentials.scopes import PASS_REDEEM, PASS_WRITE
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.jobs import UPDATE_PASS, EnqueueError
from tests.conftest import DEMO_KEY

HEADERS = {"X-API-Key": DEMO_KEY}
LIFECYCLE = ("status", "expirationDate", "statusChangedAt", "balance")


@pytest.fixture(scope="module", autouse=True)
def _cancel_leftovers(db: Any) -> Iterator[None]:
    """The refresh operations recorded here never ran: cancelled when the module ends."""
    started = utcnow()
    yield
    queued = {"tenant": "demo", "status": "queued", "createdAt": {"$gte": started}}
    for leftover in db.operations.find(queued, {"_id": 1}):
        operations.request_cancel(db, "demo", leftover["_id"])


class RecordingQueue:
    """Stands in for the app's JobQueue: records jobs, or refuses them like a dead broker."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    def enqueue(self, task_name: str, **kwargs: Any) -> None:
        if self.down:
            raise EnqueueError(f"could not enqueue {task_name}: ConnectionError")
        self.jobs.append((task_name, kwargs))


@pytest.fixture
def queue(app: Any, monkeypatch: pytest.MonkeyPatch) -> RecordingQueue:
    recording = RecordingQueue()
    monkeypatch.setitem(app.extensions, "passwire.jobs", recording)
    return recording


@pytest.fixture
def client(app: Any, queue: RecordingQueue) -> Any:
    return app.test_client()


def insert(db: Any, pass_type: str = "loyalty", **fields: Any) -> str:
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": "demo", "passType": pass_type, "authenticationToken": "t" * 32,
         "identifiers": {}, "metadata": {}, "additionalData": {}, "status": "active",
         "version": 1, "createdAt": now, "updatedAt": now, **fields}
    )  # fmt: skip
    return pass_id


@pytest.fixture
def unchanged(db: Any, queue: RecordingQueue) -> Iterator[Any]:
    """Asserts, once the test is done, that the passes it names and the operations did not
    change and that nothing was queued."""
    watched: list[str] = []
    before: dict[str, Any] = {}
    operations_before = db.operations.count_documents({})

    def watch(pass_id: str) -> str:
        watched.append(pass_id)
        before[pass_id] = db.passes.find_one({"_id": pass_id})
        return pass_id

    yield watch
    for pass_id in watched:
        assert db.passes.find_one({"_id": pass_id}) == before[pass_id]
    assert db.operations.count_documents({}) == operations_before
    assert queue.jobs == []


def put_status(client: Any, pass_id: str, body: Any) -> Any:
    return client.put(f"/api/demo/passes/{pass_id}/status", json=body, headers=HEADERS)


def redeem(client: Any, pass_id: str) -> Any:
    return client.post(f"/api/demo/passes/{pass_id}/redeem", json={}, headers=HEADERS)


def balance(client: Any, pass_id: str, body: Any) -> Any:
    return client.post(f"/api/demo/passes/{pass_id}/balance", json=body, headers=HEADERS)


def errors_of(response: Any) -> list[dict[str, str]]:
    body: dict[str, Any] = response.get_json()
    return body["errors"]


def fields_of(response: Any) -> set[str]:
    return {error["field"] for error in errors_of(response)}


def refreshed(db: Any, queue: RecordingQueue, response: Any, kind: str) -> dict[str, Any]:
    """The refresh operation the answer names: an update with an empty patch, queued."""
    correlation_id = response.get_json()["correlationId"]
    operation: dict[str, Any] = db.operations.find_one({"_id": correlation_id})
    assert operation["kind"] == kind
    assert operation["intent"] == {"passId": response.get_json()["passId"], "patch": {}}
    assert (UPDATE_PASS, {"tenant_id": "demo", "correlation_id": correlation_id,
                          "pass_id": operation["intent"]["passId"]}) in queue.jobs  # fmt: skip
    return operation


# -- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "status"),
        ({"status": "deleted"}, "status"),
        ({"status": "voided", "reason": "x"}, "reason"),
        ({"expirationDate": "2031-01-01T00:00:00"}, "expirationDate"),  # no offset
        ({"expirationDate": "2031-01-01"}, "expirationDate"),
        ({"expirationDate": "0001-01-01T00:00:00+05:00"}, "expirationDate"),
        ({"expirationDate": "1969-12-31T23:59:59Z"}, "expirationDate"),
        ({"expirationDate": 1893456000}, "expirationDate"),
        # An active pass's expirationDate must lie ahead.
        ({"expirationDate": "2001-01-01T00:00:00Z"}, "expirationDate"),
        ({"status": "active", "expirationDate": "2001-01-01T00:00:00Z"}, "expirationDate"),
    ],
)
def test_invalid_status_requests_are_422(
    client: Any, db: Any, unchanged: Any, body: Any, field: str
) -> None:
    pass_id = unchanged(insert(db))
    response = put_status(client, pass_id, body)
    assert response.status_code == 422, response.get_json()
    assert field in fields_of(response), errors_of(response)


@pytest.mark.parametrize(
    "case",
    [
        ("voided", "active", "the pass is voided; a voided pass never changes"),
        ("redeemed", "active", "from redeemed it may become voided"),
        ("redeemed", "blocked", "from redeemed it may become voided"),
        ("blocked", "redeemed", "from blocked it may become active, voided"),
        ("expired", "blocked", "from expired it may become active, voided"),
    ],
)
def test_refused_transitions_are_409_naming_the_current_status(
    client: Any, db: Any, unchanged: Any, case: tuple[str, str, str]
) -> None:
    status, target, reason = case
    pass_id = unchanged(insert(db, status=status))
    response = put_status(client, pass_id, {"status": target})
    assert response.status_code == 409
    assert response.get_json()["code"] == "invalid_transition"
    [error] = errors_of(response)
    assert error["field"] == "status"
    assert error["reason"].startswith(f"the pass is {status}")
    assert reason in error["reason"]


def test_expired_becomes_active_only_with_a_future_date(
    client: Any, db: Any, queue: RecordingQueue
) -> None:
    lapsed = utcnow() - timedelta(days=1)
    pass_id = insert(db, status="expired", expirationDate=lapsed)
    refused = put_status(client, pass_id, {"status": "active"})
    assert refused.status_code == 409
    assert fields_of(refused) == {"expirationDate"}
    assert queue.jobs == []

    response = put_status(client, pass_id, {"status": "active", "expirationDate": None})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {
        "passId": pass_id,
        "status": "active",
        "correlationId": response.get_json()["correlationId"],
    }
    stored = db.passes.find_one({"_id": pass_id})
    assert stored["status"] == "active" and "expirationDate" not in stored


def test_a_status_change_is_stored_and_refreshed(
    client: Any, db: Any, queue: RecordingQueue
) -> None:
    pass_id = insert(db)
    response = put_status(
        client, pass_id, {"status": "blocked", "expirationDate": "2031-01-01T10:00:00.1239+02:00"}
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "blocked"
    assert body["expirationDate"].startswith("2031-01-01T08:00:00.123")  # UTC, milliseconds
    assert response.headers["Location"] == f"/api/demo/operations/{body['correlationId']}"
    refreshed(db, queue, response, "status")
    stored = db.passes.find_one({"_id": pass_id})
    assert stored["status"] == "blocked"
    assert stored["version"] == 2  # an update job that rendered the old state must retry
    assert stored["statusChangedAt"] >= stored["createdAt"]

    shown = client.get(f"/api/demo/passes/{pass_id}", headers=HEADERS).get_json()
    assert shown["status"] == "blocked"
    assert shown["expirationDate"].startswith("2031-01-01T08:00:00.123")


def test_asking_for_the_current_state_changes_nothing(client: Any, db: Any, unchanged: Any) -> None:
    pass_id = unchanged(insert(db, status="voided"))
    response = put_status(client, pass_id, {"status": "voided"})
    assert response.status_code == 200
    assert response.get_json() == {"passId": pass_id, "status": "voided"}


def test_unknown_pass_is_404(client: Any, unchanged: Any) -> None:
    for response in (
        put_status(client, new_pass_id(), {"status": "voided"}),
        redeem(client, new_pass_id()),
        balance(client, new_pass_id(), {"delta": 1}),
    ):
        assert response.status_code == 404
        assert fields_of(response) == {"passId"}


# -- redeem -----------------------------------------------------------------------------------


def test_redeeming_a_coupon_once(client: Any, db: Any, queue: RecordingQueue) -> None:
    pass_id = insert(db, "voucher")
    first = redeem(client, pass_id)
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["status"] == "redeemed"
    refreshed(db, queue, first, "redeem")

    again = redeem(client, pass_id)
    assert again.status_code == 409
    assert again.get_json()["code"] == "invalid_transition"
    [error] = errors_of(again)
    assert error["field"] == "status"
    assert error["reason"].startswith("the pass is already redeemed since ")
    assert len(queue.jobs) == 1


def test_a_till_s_redeem_only_key_redeems_and_nothing_else(
    client: Any, db: Any, queue: RecordingQueue
) -> None:
    name = f"till-{secrets.token_hex(3)}"
    till = issue_key(db, tenant_id="demo", name=name, scopes={PASS_REDEEM}, now=utcnow())
    headers = {"X-API-Key": till.plaintext}
    pass_id = insert(db, "voucher")
    url = f"/api/demo/passes/{pass_id}"
    patched = client.patch(url, json={"metadata": {"x": "1"}}, headers=headers)
    assert (patched.status_code, errors_of(patched)) == (
        403,
        [{"field": "scope", "reason": PASS_WRITE}],
    )
    assert client.get(url, headers=headers).status_code == 403  # not even reading it
    redeemed = client.post(f"{url}/redeem", json={}, headers=headers)
    assert redeemed.status_code == 202, redeemed.get_json()
    assert db.passes.find_one({"_id": pass_id})["status"] == "redeemed"
    assert len(queue.jobs) == 1


def test_what_cannot_be_redeemed_is_409(client: Any, db: Any, unchanged: Any) -> None:
    loyalty = unchanged(insert(db, "loyalty"))
    response = redeem(client, loyalty)
    assert response.status_code == 409
    assert response.get_json()["code"] == "not_redeemable"
    assert fields_of(response) == {"passType"}

    lapsed = unchanged(insert(db, "voucher", expirationDate=utcnow() - timedelta(seconds=1)))
    response = redeem(client, lapsed)
    assert response.status_code == 409
    assert errors_of(response)[0]["reason"].startswith("the pass is expired")

    body = {"unexpected": 1}
    response = client.post(f"/api/demo/passes/{loyalty}/redeem", json=body, headers=HEADERS)
    assert response.status_code == 422
    assert fields_of(response) == {"unexpected"}


def test_redeeming_by_external_identifier_or_barcode(
    client: Any, db: Any, queue: RecordingQueue
) -> None:
    code = f"CODE-{secrets.token_hex(4)}"
    by_id = insert(db, "voucher", identifiers={"code": code})
    response = client.post(f"/api/demo/redemptions?id.code={code}", headers=HEADERS)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["passId"] == by_id

    scanned = f"SCAN-{secrets.token_hex(4)}"
    by_barcode = insert(db, "voucher", apple={"barcodeMessages": ["other", scanned]})
    response = client.post("/api/demo/redemptions", json={"barcode": scanned}, headers=HEADERS)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["passId"] == by_barcode
    assert db.passes.find_one({"_id": by_barcode})["status"] == "redeemed"
    assert len(queue.jobs) == 2


def test_redeeming_by_lookup_needs_exactly_one_pass(client: Any, db: Any, unchanged: Any) -> None:
    shared = f"SHARED-{secrets.token_hex(4)}"
    one = unchanged(insert(db, "voucher", identifiers={"code": shared}))
    two = unchanged(
        insert(db, "voucher", identifiers={"code": shared}, apple={"barcodeMessages": [shared]})
    )
    unchanged(insert(db, "voucher", apple={"barcodeMessages": [shared]}))
    url = "/api/demo/redemptions"
    cases = [
        (client.post(f"{url}?id.code={shared}", headers=HEADERS), 409, "id"),
        (client.post(url, json={"barcode": shared}, headers=HEADERS), 409, "barcode"),
        (client.post(f"{url}?id.code=nobody", headers=HEADERS), 404, "id"),
        (client.post(url, json={"barcode": "nobody"}, headers=HEADERS), 404, "barcode"),
        (client.post(url, json={}, headers=HEADERS), 422, "id"),
        (client.post(f"{url}?id={one}", json={"barcode": shared}, headers=HEADERS), 422, "barcode"),
        (client.post(url, json={"barcode": ""}, headers=HEADERS), 422, "barcode"),
    ]
    for response, status, field in cases:
        assert response.status_code == status, response.get_json()
        assert field in fields_of(response), response.get_json()
    assert two != one


def test_another_tenants_coupon_is_not_found(client: Any, db: Any, unchanged: Any) -> None:
    code = f"RIVAL-{secrets.token_hex(4)}"
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": "rival", "passType": "coupon", "identifiers": {"code": code},
         "status": "active", "version": 1, "createdAt": now, "updatedAt": now,
         "apple": {"barcodeMessages": [code]}}
    )  # fmt: skip
    unchanged(pass_id)
    url = "/api/demo/redemptions"
    assert client.post(f"{url}?id.code={code}", headers=HEADERS).status_code == 404
    assert client.post(url, json={"barcode": code}, headers=HEADERS).status_code == 404
    assert redeem(client, pass_id).status_code == 404


# -- balance ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("giftcard", {}, "delta"),
        ("giftcard", {"delta": 0}, "delta"),
        ("giftcard", {"delta": 1.5}, "delta"),
        ("giftcard", {"delta": True}, "delta"),
        ("giftcard", {"delta": "5"}, "delta"),
        ("giftcard", {"delta": 10**9 + 1}, "delta"),
        ("giftcard", {"delta": -(10**9) - 1}, "delta"),
        ("giftcard", {"delta": 5, "currency": "EUX"}, "currency"),
        ("giftcard", {"delta": 5, "currency": "eur"}, "currency"),
        ("giftcard", {"delta": 5, "currency": "USD"}, "currency"),
        ("points", {"delta": 5, "currency": "EUR"}, "currency"),
        ("giftcard", {"delta": 5, "reference": ""}, "reference"),
        ("giftcard", {"delta": 5, "reference": "r" * 129}, "reference"),
        ("giftcard", {"delta": 5, "note": "x"}, "note"),
    ],
)
def test_invalid_balance_requests_are_422(
    client: Any, db: Any, unchanged: Any, case: tuple[str, Any, str]
) -> None:
    pass_type, body, field = case
    pass_id = unchanged(insert(db, pass_type, balance={"amount": 100, "unit": "money"}))
    response = balance(client, pass_id, body)
    assert response.status_code == 422, response.get_json()
    assert fields_of(response) == {field}, errors_of(response)


@pytest.mark.parametrize(
    "case",
    [
        ("loyalty", {}, 5, "passType", "no_balance"),
        ("giftcard", {}, -1, "delta", "insufficient_balance"),
        ("giftcard", {"balance": {"amount": 100, "unit": "money"}}, -101, "delta",
         "insufficient_balance"),
        ("giftcard", {"status": "voided"}, 5, "status", "invalid_transition"),
        ("giftcard", {"expirationDate": utcnow() - timedelta(seconds=1)}, 5, "status",
         "invalid_transition"),
    ],
)  # fmt: skip
def test_refused_balance_changes_are_409(
    client: Any, db: Any, unchanged: Any, case: tuple[str, dict[str, Any], int, str, str]
) -> None:
    pass_type, fields, delta, field, code = case
    pass_id = unchanged(insert(db, pass_type, **fields))
    response = balance(client, pass_id, {"delta": delta})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["code"] == code
    assert fields_of(response) == {field}


def test_balance_changes_and_references(client: Any, db: Any, queue: RecordingQueue) -> None:
    pass_id = insert(db, "giftcard")
    credited = balance(client, pass_id, {"delta": 2500, "currency": "EUR", "reference": "t-1"})
    assert credited.status_code == 200, credited.get_json()
    body = credited.get_json()
    assert body["balance"] == {"amount": 2500, "unit": "money", "currency": "EUR"}
    assert body["applied"] is True
    refreshed(db, queue, credited, "balance")

    debited = balance(client, pass_id, {"delta": -2500, "reference": "t-2"})
    assert debited.get_json()["balance"]["amount"] == 0

    # The same reference again: nothing changes, no job, the current balance.
    operations = db.operations.count_documents({})
    again = balance(client, pass_id, {"delta": 2500, "currency": "EUR", "reference": "t-1"})
    assert again.status_code == 200
    assert again.get_json() == {
        "passId": pass_id,
        "balance": {"amount": 0, "unit": "money", "currency": "EUR"},
        "applied": False,
    }
    assert db.operations.count_documents({}) == operations
    assert len(queue.jobs) == 2
    # ...unless it comes with another delta: a mistake, not a retry.
    misused = balance(client, pass_id, {"delta": 1, "reference": "t-1"})
    assert misused.status_code == 422
    assert errors_of(misused) == [
        {"field": "reference", "reason": "was applied before with delta 2500"}
    ]

    shown = client.get(f"/api/demo/passes/{pass_id}", headers=HEADERS).get_json()
    assert shown["balance"] == {"amount": 0, "unit": "money", "currency": "EUR"}


def test_a_points_balance_may_go_negative_when_allowed(client: Any, db: Any) -> None:
    pass_id = insert(db, "points")
    response = balance(client, pass_id, {"delta": -5})
    assert response.status_code == 200
    assert response.get_json()["balance"] == {"amount": -5, "unit": "points"}


def test_a_retry_after_a_dead_queue_applies_once(
    client: Any, db: Any, queue: RecordingQueue
) -> None:
    pass_id = insert(db, "giftcard", balance={"amount": 100, "unit": "money", "currency": "EUR"})
    started = utcnow()
    queue.down = True
    response = balance(client, pass_id, {"delta": -40, "reference": "pos-7"})
    assert response.status_code == 503
    stored = db.passes.find_one({"_id": pass_id})
    assert stored["balance"]["amount"] == 100
    assert stored["balance"].get("applied", []) == []
    [operation] = db.operations.find({"kind": "balance", "createdAt": {"$gte": started}})
    assert operation["status"] == "failed"
    assert operation["failureReason"] == "the job queue is unavailable"

    queue.down = False
    retried = balance(client, pass_id, {"delta": -40, "reference": "pos-7"})
    assert retried.status_code == 200
    assert retried.get_json()["balance"]["amount"] == 60


def test_a_status_change_is_undone_when_its_refresh_cannot_be_queued(
    client: Any, db: Any, queue: RecordingQueue
) -> None:
    pass_id = insert(db, "voucher")
    queue.down = True
    assert redeem(client, pass_id).status_code == 503
    assert put_status(client, pass_id, {"status": "voided"}).status_code == 503
    stored = db.passes.find_one({"_id": pass_id})
    assert stored["status"] == "active"
    assert "statusChangedAt" not in stored and "expirationDate" not in stored
    queue.down = False
    assert redeem(client, pass_id).status_code == 202


def test_operations_can_be_listed_by_lifecycle_kind(
    client: Any, db: Any, queue: RecordingQueue
) -> None:
    pass_id = insert(db, "voucher")
    correlation_id = redeem(client, pass_id).get_json()["correlationId"]
    listed = client.get("/api/demo/operations?kind=redeem&pageSize=200", headers=HEADERS)
    assert listed.status_code == 200
    assert correlation_id in [operation["correlationId"] for operation in listed.get_json()]
    assert all(operation["kind"] == "redeem" for operation in listed.get_json())
