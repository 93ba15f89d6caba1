"""Flat-file imports end to end, with the real worker: a CSV with good and bad rows updates
the good passes (stored, Apple devices pushed, Google objects patched), reports each bad row
with its reason in results.csv, and counts every row exactly once."""

from __future__ import annotations

import codecs
import csv
import io
import secrets
from typing import Any

import pytest

from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from shared.infra.clock import utcnow
from tests.support.api_client import ApiClient
from tests.support.apple import PASS_TYPE_IDENTIFIER, create_pass, new_push_token
from tests.support.google_saving import save_in_google_wallet
from tests.support.google_tenants import DEMO_ISSUER_ID


def register_device(db: Any, pass_id: str) -> str:
    now, token = utcnow(), new_push_token()
    db.registrations.insert_one(
        {
            "deviceLibraryIdentifier": secrets.token_hex(16),
            "passTypeIdentifier": PASS_TYPE_IDENTIFIER,
            "serialNumber": pass_id,
            "pushToken": token,
            "tenant": "demo",
            "createdAt": now,
            "updatedAt": now,
        }
    )
    return token


def upload(client: ApiClient, body: bytes) -> str:
    response = client.session.post(
        client.url("/imports"), data=body, headers={"Content-Type": "text/csv"}, timeout=10
    )
    assert response.status_code == 202, response.text
    correlation_id: str = response.json()["correlationId"]
    return correlation_id


def results_csv(client: ApiClient, correlation_id: str) -> list[list[str]]:
    response = client.session.get(client.url(f"/imports/{correlation_id}/results.csv"), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text, newline=""), strict=True))


def as_cell(pass_id: str) -> str:
    """A pass id as results.csv shows it: one starting with `-` gets a leading `'`."""
    return "'" + pass_id if pass_id.startswith("-") else pass_id


def google_object(fake_google: FakeGoogleControl, pass_id: str) -> dict[str, Any]:
    found = fake_google.object(f"{DEMO_ISSUER_ID}.{pass_id}")
    assert found is not None
    return found


@pytest.mark.usefixtures("worker")
def test_good_rows_update_their_passes_and_bad_rows_say_why(
    demo: ApiClient,
    db: Any,
    fake_apns: FakeApnsControl,
    fake_google: FakeGoogleControl,
    api_url: str,
) -> None:
    tag = secrets.token_hex(4)
    by_crm = create_pass(demo, identifiers={"crm": f"C-{tag}-1"}, additionalData={"points": 1})
    nested = create_pass(demo, identifiers={"y2": {"customerId": f"{tag}-9"}})
    unrenderable = create_pass(demo, identifiers={"crm": f"C-{tag}-3"})
    twins = [create_pass(demo, identifiers={"crm": f"C-{tag}-twin"}) for _ in range(2)]
    token = register_device(db, by_crm)
    for saved in (by_crm, nested):  # in Google Wallet: their changes reach Google
        save_in_google_wallet(demo, fake_google, api_url, saved)
    patches_before = google_object(fake_google, nested)["patch_count"]
    ours = [by_crm, nested, unrenderable, *twins]
    versions_before = {d["_id"]: d["version"] for d in db.passes.find({"_id": {"$in": ours}})}

    text = (
        "id.crm;id.y2.customerId;metadata.tier;additionalData.points\r\n"
        f"C-{tag}-1;;gold;42\r\n"
        f"C-{tag}-1;;;\r\n"  # the same pass, nothing to change: not pushed a second time
        f";{tag}-9;silver;7\r\n"
        f"C-{tag}-404;;gold;1\r\n"
        f"C-{tag}-twin;;gold;1\r\n"
        f"C-{tag}-3;;gold;true\r\n"  # a boolean as points: the Apple pass does not render
    )
    correlation_id = upload(demo, codecs.BOM_UTF8 + text.encode())
    operation = demo.wait_for_final(correlation_id, timeout=30)

    assert operation["kind"] == "import"
    assert operation["status"] == "completed_with_errors", operation
    counters = operation["counters"]
    assert (counters["total"], counters["processed"]) == (6, 6)
    assert (counters["succeeded"], counters["unchanged"], counters["failed"]) == (2, 1, 3)
    assert counters["cancelled"] == 0
    assert counters["apple"] == {"pushed": 1, "failed": 0, "unregistered": 0}
    assert counters["google"]["patched"] == 2

    # The good rows: stored, the device pushed once, Google's objects patched.
    first = demo.get_pass(by_crm).json()
    assert (first["metadata"]["tier"], first["additionalData"]["points"]) == ("gold", 42)
    second = demo.get_pass(nested).json()
    assert (second["metadata"]["tier"], second["additionalData"]["points"]) == ("silver", 7)
    assert [push["token"] for push in fake_apns.pushes()].count(token) == 1
    assert google_object(fake_google, by_crm)["resource"]["loyaltyPoints"]["balance"] == {
        "string": "42"
    }
    patched = google_object(fake_google, nested)
    assert patched["patch_count"] == patches_before + 1
    assert patched["resource"]["loyaltyPoints"]["balance"] == {"string": "7"}

    # The bad rows changed nothing.
    for pass_id in (unrenderable, *twins):
        assert db.passes.find_one({"_id": pass_id})["version"] == versions_before[pass_id]

    lines = results_csv(demo, correlation_id)
    assert lines[0] == ["row", "passId", "status", "error"]
    rows = {line[0]: line[1:] for line in lines[1:]}
    assert rows["2"] == [as_cell(by_crm), "succeeded", ""]
    assert rows["3"] == [as_cell(by_crm), "unchanged", ""]
    assert rows["4"] == [as_cell(nested), "succeeded", ""]
    assert rows["5"] == ["", "failed", "no pass matches id.crm"]
    assert rows["6"] == [
        "",
        "failed",
        "several passes match id.crm; name one by its id or a unique identifier",
    ]
    assert rows["7"][:2] == [as_cell(unrenderable), "failed"]
    assert rows["7"][2].startswith("Apple pass does not render")
    assert len(lines) == 7
    reasons = {error["id"]: error["reason"] for error in operation["errors"]}
    assert set(reasons) == {"row 5", "row 6", "row 7"}
    assert reasons["row 7"] == rows["7"][2]


@pytest.mark.usefixtures("worker")
def test_rows_by_pass_id_from_a_form_upload(demo: ApiClient, db: Any) -> None:
    pass_ids = [create_pass(demo, additionalData={"points": n}) for n in range(3)]
    body = "id,additionalData.points,additionalData.note,metadata.store\n" + "".join(
        f"{pass_id},{n},'{n:03d},\n" for n, pass_id in enumerate(pass_ids)
    )
    response = demo.session.post(
        demo.url("/imports"), files={"file": ("passes.csv", body.encode())}, timeout=10
    )
    assert response.status_code == 202, response.text
    operation = demo.wait_for_final(response.json()["correlationId"], timeout=30)
    assert operation["status"] == "completed", operation
    # The points were already those and the templates do not show the note: each pass is
    # stored with its note but renders the same, so nothing is signed or pushed (unchanged).
    stored = {d["_id"]: d for d in db.passes.find({"_id": {"$in": pass_ids}})}
    assert [stored[p]["additionalData"] for p in pass_ids] == [
        {"points": 0, "note": "000"},
        {"points": 1, "note": "001"},
        {"points": 2, "note": "002"},
    ]
    assert [stored[p]["metadata"] for p in pass_ids] == [{}, {}, {}]
    counters = operation["counters"]
    assert counters["processed"] == counters["total"] == counters["unchanged"] == 3
    lines = results_csv(demo, operation["correlationId"])[1:]
    assert lines == [[str(n + 2), as_cell(p), "unchanged", ""] for n, p in enumerate(pass_ids)]
