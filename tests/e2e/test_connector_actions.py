"""The actions no shipped definition uses, through connectors of the test's own (added to the
demo tenant for the test, signed with the passwire-v1 scheme): redeem by identifier, a balance
change on the pass a lookup names, and a push update to a segment. Each answers what the API
answers for the same call, and its job runs."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.connectors.config import load_connectors
from shared.tenancy.tenants import TenantRegistry
from shared.webhooks import signing
from tests.support.api_client import ApiClient

pytestmark = pytest.mark.usefixtures("worker")

SECRET_ENV = "PASSWIRE_TEST_ACTION_CONNECTOR_SECRET"
SECRET = "actions-" + secrets.token_hex(8)
AUTH = f'platform = "test"\n[auth]\nscheme = "passwire-v1"\nsecret_env = "{SECRET_ENV}"\n'
CONNECTORS = {
    "till": """[action]
kind = "redeem"
query = '{"id.code": "{{ payload.voucher }}"}'
""",
    "visits": """[action]
kind = "balance"
query = '{"id": "{{ payload.card }}"}'
body = '{"delta": {{ payload.points | json }}, "reference": "{{ payload.visit }}"}'
""",
    "segment": """[action]
kind = "push_update"
body = '''{"filter": {"passType": ["loyalty"], "metadata": {"store": ["{{ payload.store }}"]}},
  "data": {"additionalData": {"points": {{ payload.points | json }}}}}'''
""",
}


@pytest.fixture
def connectors(app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "connectors").mkdir()
    for name, action in CONNECTORS.items():
        (tmp_path / "connectors" / f"{name}.toml").write_text(AUTH + action)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    registry: TenantRegistry = app.extensions["passwire.tenants"]
    demo = registry.tenants["demo"]
    extended = dataclasses.replace(demo, connectors=demo.connectors + load_connectors(tmp_path))
    tenants = {**registry.tenants, "demo": extended}
    monkeypatch.setitem(app.extensions, "passwire.tenants", TenantRegistry(tenants))
    yield


def call(api_url: str, name: str, payload: dict[str, Any], ago_s: int = 0) -> requests.Response:
    """Signed `ago_s` seconds ago: the same body signed at the same second is a replay."""
    body = json.dumps(payload).encode()
    signature = signing.sign(SECRET, body, int(time.time()) - ago_s)
    headers = {"Content-Type": "application/json", "Passwire-Signature": signature}
    return requests.post(f"{api_url}/connect/demo/{name}", data=body, headers=headers, timeout=10)


def created(demo: ApiClient, pass_type: str, **body: Any) -> str:
    response = demo.create_pass(pass_type, **body)
    assert response.status_code == 202, response.text
    assert demo.wait_for_final(response.json()["correlationId"])["status"] == "completed"
    return str(response.json()["passId"])


@pytest.mark.usefixtures("connectors")
def test_a_till_redeems_by_identifier_once(demo: ApiClient, db: Any, api_url: str) -> None:
    code = secrets.token_hex(6)
    pass_id = created(demo, "voucher", identifiers={"code": code})

    first = call(api_url, "till", {"voucher": code})
    assert first.status_code == 202, first.text
    assert demo.wait_for_final(first.json()["correlationId"])["status"] == "completed"
    assert db.passes.find_one({"_id": pass_id})["status"] == "redeemed"
    again = call(api_url, "till", {"voucher": code}, ago_s=2)
    assert again.status_code == 409, again.text  # the API's answer: already redeemed


@pytest.mark.usefixtures("connectors")
def test_a_visit_credits_the_balance_once(demo: ApiClient, db: Any, api_url: str) -> None:
    pass_id = created(demo, "points")
    visit = {"card": pass_id, "points": 5, "visit": f"v-{secrets.token_hex(4)}"}

    credited = call(api_url, "visits", visit)
    repeated = call(api_url, "visits", visit, ago_s=2)  # signed anew; the reference repeats

    assert credited.status_code == 200, credited.text
    assert credited.json()["balance"] == {"amount": 5, "unit": "points"}
    assert repeated.json()["applied"] is False
    assert db.passes.find_one({"_id": pass_id})["balance"]["amount"] == 5
    missing = call(api_url, "visits", {**visit, "card": "no-such-pass"})
    assert missing.status_code == 404, missing.text


@pytest.mark.usefixtures("connectors")
def test_a_segment_push_update_runs_as_a_campaign(demo: ApiClient, db: Any, api_url: str) -> None:
    store = f"store-{secrets.token_hex(4)}"
    members = [created(demo, "loyalty", metadata={"store": store}) for _ in range(2)]

    response = call(api_url, "segment", {"store": store, "points": 77})

    assert response.status_code == 202, response.text
    operation = demo.wait_for_final(response.json()["correlationId"], timeout=45)
    assert (operation["kind"], operation["status"]) == ("pushUpdate", "completed"), operation
    counters = operation["counters"]
    assert counters["total"] == counters["succeeded"] == 2
    points = {d["additionalData"]["points"] for d in db.passes.find({"_id": {"$in": members}})}
    assert points == {77}
