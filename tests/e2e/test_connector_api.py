"""Connectors defined through the API, end to end: a tenant PUTs a connector's TOML, reads
it back, and the tool's signed call to `POST /connect/...` runs the mapped action through a
real worker, without a restart; an invalid definition is 422 naming the field and nothing is
stored; after DELETE the route answers 404; the connector's `[outbound]` endpoint receives
the events emitted after the PUT. One tenant never sees or runs another's connectors."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from api.connectors.manage import MAX_DEFINITION_BYTES
from tests.support.api_client import ApiClient
from tests.support.apple import PUBLIC_URL, issue_apple_pass
from tests.support.connectors import CONNECTOR_ENV, ToolReceiver, hubspot_headers
from tests.support.processes import wait_until

pytestmark = pytest.mark.usefixtures("worker")

TOML = "application/toml"
# Signed as HubSpot signs (v3), with the test secret the fixtures set in every process.
DEFINITION = """
platform = "tool"

[auth]
scheme = "hubspot-v3"
secret_env = "HUBSPOT_CLIENT_SECRET"

[action]
kind = "create"
query = '{"passType": "loyalty"}'
body = '{"identifiers": {"crm": "{{ payload.who }}"}, "metadata": {"tier": "{{ payload.tier }}"}}'
"""


def _outbound(url: str) -> str:
    return (
        DEFINITION
        + f"""
[outbound]
url = "{url}"
events = ["pass.installed"]
secret_env = "HUBSPOT_OUTBOUND_SECRET"
body = '{{"installed": "{{{{ event.data.passId }}}}"}}'
"""
    )


def put(client: ApiClient, name: str, text: str, mimetype: str = TOML) -> requests.Response:
    return client.session.put(
        client.url(f"/connectors/{name}"),
        data=text.encode(),
        headers={"Content-Type": mimetype},
        timeout=10,
    )


def connect(
    api_url: str, tenant: str, name: str, payload: dict[str, Any], secret: str | None = None
) -> requests.Response:
    """The tool's call, signed for the public URL it calls."""
    body = json.dumps(payload).encode()
    uri = f"{PUBLIC_URL}/connect/{tenant}/{name}"
    key = CONNECTOR_ENV["HUBSPOT_CLIENT_SECRET"] if secret is None else secret
    headers = hubspot_headers(key, "POST", uri, body)
    return requests.post(
        f"{api_url}/connect/{tenant}/{name}", data=body, headers=headers, timeout=10
    )


@pytest.fixture
def name(demo: ApiClient, rival: ApiClient) -> Iterator[str]:
    """A fresh connector name, deleted from both tenants afterwards."""
    chosen = f"tool-{secrets.token_hex(4)}"
    yield chosen
    for client in (demo, rival):
        client.session.delete(client.url(f"/connectors/{chosen}"), timeout=10)


def test_a_connector_put_through_the_api_runs_its_action_then_404s_once_deleted(
    demo: ApiClient, db: Any, api_url: str, name: str
) -> None:
    created = put(demo, name, DEFINITION)
    assert created.status_code == 201, created.text
    assert created.json() == {"name": name, "source": "api", "version": 1, "platform": "tool"}

    read = demo.session.get(demo.url(f"/connectors/{name}"), timeout=10)
    assert read.status_code == 200
    assert read.text == DEFINITION
    assert read.headers["X-Passwire-Source"] == "api"
    listed = demo.session.get(demo.url("/connectors"), timeout=10).json()["connectors"]
    assert {"name": name, "source": "api", "version": 1, "platform": "tool"} in listed
    assert {"name": "klaviyo", "source": "file", "version": None, "platform": "klaviyo"} in listed

    who = f"C-{secrets.token_hex(4)}"
    forged = connect(api_url, "demo", name, {"who": who, "tier": "gold"}, secret="not-it")
    assert forged.status_code == 401, forged.text
    assert db.passes.find_one({"identifiers.crm": who}) is None
    called = connect(api_url, "demo", name, {"who": who, "tier": "gold"})
    assert called.status_code == 202, called.text
    operation = demo.wait_for_final(called.json()["correlationId"])
    assert operation["status"] == "completed", operation
    stored = db.passes.find_one({"_id": called.json()["passId"]})
    assert stored["identifiers"] == {"crm": who}
    assert stored["metadata"] == {"tier": "gold"}

    # Replaced: the next call maps with the new definition, no restart.
    replaced = put(demo, name, DEFINITION.replace('"{{ payload.tier }}"', '"fixed"'), "text/plain")
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == 2
    again = connect(api_url, "demo", name, {"who": f"C-{secrets.token_hex(4)}", "tier": "x"})
    assert again.status_code == 202, again.text
    assert demo.wait_for_final(again.json()["correlationId"])["status"] == "completed"
    assert db.passes.find_one({"_id": again.json()["passId"]})["metadata"] == {"tier": "fixed"}

    deleted = demo.session.delete(demo.url(f"/connectors/{name}"), timeout=10)
    assert deleted.status_code == 204, deleted.text
    before = db.passes.count_documents({})
    gone = connect(api_url, "demo", name, {"who": who, "tier": "gold"})
    assert gone.status_code == 404, gone.text
    assert db.passes.count_documents({}) == before
    assert demo.session.get(demo.url(f"/connectors/{name}"), timeout=10).status_code == 404


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (DEFINITION.replace('"hubspot-v3"', '"basic-auth"'), "auth.scheme"),
        (DEFINITION.replace("payload.tier", "env.HOME"), "action.body"),
        (DEFINITION.replace('kind = "create"', 'kind = "teleport"'), "action.kind"),
        (DEFINITION + "[extra]\nsecret = 'x'\n", "extra"),
        (_outbound("https://user:hunter2@tool.example/in"), "outbound.url"),
        ("platform = ", "body"),
    ],
)
def test_an_invalid_definition_is_422_naming_the_field_and_nothing_is_stored(  # noqa: PLR0917 - pytest injects fixtures by name
    demo: ApiClient, db: Any, api_url: str, name: str, text: str, field: str
) -> None:
    refused = put(demo, name, text)

    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == field
    assert db.connectors.find_one({"name": name}) is None
    assert connect(api_url, "demo", name, {"who": "C-1", "tier": "gold"}).status_code == 404


def test_file_connectors_stay_the_files(demo: ApiClient, db: Any) -> None:
    for answer in (
        put(demo, "klaviyo", DEFINITION),
        demo.session.delete(demo.url("/connectors/klaviyo"), timeout=10),
    ):
        assert answer.status_code == 409, answer.text
        assert answer.json()["errors"] == [
            {
                "field": "name",
                "reason": "defined by the file config/tenants/demo/connectors/klaviyo.toml",
            }
        ]
    assert db.connectors.find_one({"_id": "demo/klaviyo"}) is None
    read = demo.session.get(demo.url("/connectors/klaviyo"), timeout=10)
    assert read.status_code == 200
    assert read.headers["X-Passwire-Source"] == "file"
    assert 'platform = "klaviyo"' in read.text


def test_oversize_and_non_toml_bodies_are_refused(demo: ApiClient, db: Any, name: str) -> None:
    padding = "#" * MAX_DEFINITION_BYTES + "\n"
    assert put(demo, name, DEFINITION + padding).status_code == 413
    assert put(demo, name, DEFINITION, "application/json").status_code == 415
    assert db.connectors.find_one({"name": name}) is None


def test_tenants_never_see_or_run_each_others_connectors(
    demo: ApiClient, rival: ApiClient, db: Any, api_url: str, name: str
) -> None:
    assert put(demo, name, DEFINITION).status_code == 201

    assert rival.session.get(rival.url(f"/connectors/{name}"), timeout=10).status_code == 404
    assert name not in {
        c["name"]
        for c in rival.session.get(rival.url("/connectors"), timeout=10).json()["connectors"]
    }
    assert rival.session.delete(rival.url(f"/connectors/{name}"), timeout=10).status_code == 404
    # The demo's key on the rival's URL, and the rival's key on the demo's: refused.
    assert demo.session.get(rival.url(f"/connectors/{name}"), timeout=10).status_code in (401, 403)
    assert rival.session.delete(demo.url(f"/connectors/{name}"), timeout=10).status_code in (
        401,
        403,
    )
    before = db.passes.count_documents({})
    assert connect(api_url, "rival", name, {"who": "C-1", "tier": "gold"}).status_code == 404
    assert db.passes.count_documents({}) == before
    # The rival may define its own connector of the same name: a separate one.
    assert put(rival, name, DEFINITION.replace('"tool"', '"rival-tool"', 1)).status_code == 201
    mine = demo.session.get(demo.url(f"/connectors/{name}"), timeout=10)
    assert mine.text == DEFINITION


def test_events_after_the_put_reach_its_outbound_endpoint(
    demo: ApiClient, db: Any, api_url: str, name: str, connector_tool: ToolReceiver
) -> None:
    assert put(demo, name, _outbound(f"{connector_tool.url}/{name}")).status_code == 201
    device = issue_apple_pass(demo, api_url)

    assert device.register().status_code == 201

    def delivered() -> dict[str, Any] | None:
        found: dict[str, Any] | None = db.webhook_deliveries.find_one(
            {"endpoint.id": f"connector-{name}", "status": "delivered"}
        )
        return found

    document = wait_until(delivered, 30, what="the install to reach the tool")
    assert json.loads(document["body"]) == {"installed": device.serial}
    seen = connector_tool.for_delivery(document["_id"])
    assert seen[-1].verified
    assert {r.path for r in seen} == {f"/{name}"}
