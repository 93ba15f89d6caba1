"""Connector definitions load only when their templates stay inside their data; requests
authenticate by the connector's scheme; payloads map to API calls or name what is missing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shared.connectors.auth import Request, Unauthenticated, verify
from shared.connectors.config import (
    ConnectorAuth,
    ConnectorConfigError,
    load_connector,
    load_connectors,
)
from shared.connectors.mapping import MappingError, map_payload
from shared.tenancy.tenants import TenantConfigError, load_tenant
from shared.webhooks import signing
from tests.support.connectors import FIXTURES, hubspot_headers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config" / "connectors"

HEADER_CONNECTOR = """
platform = "test"
[auth]
scheme = "shared-secret"
secret_env = "TEST_SECRET"
[action]
kind = "create"
query = '{{"passType": "loyalty"}}'
body = '''{body}'''
"""

OUTBOUND = """
[outbound]
url = "https://tool.example/in"
events = ["pass.installed"]
secret_env = "TEST_OUT"
body = '''{body}'''
"""


def write(tmp_path: Path, body: str, outbound: str | None = None) -> Path:
    path = tmp_path / "tool.toml"
    text = HEADER_CONNECTOR.format(body=body)
    if outbound is not None:
        text += OUTBOUND.format(body=outbound)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"x": "{{ settings.redis_url }}"}', "settings.redis_url"),
        ('{"x": "{{ pass.id }}"}', "pass.id"),
        ('{"x": "{{ payload[tenant.secret] }}"}', "tenant.secret"),
        ('{% if env.HOME %}{"x": 1}{% endif %}', "env.HOME"),
    ],
)
def test_a_mapping_reading_outside_the_payload_is_refused_at_load(
    tmp_path: Path, body: str, named: str
) -> None:
    with pytest.raises(ConnectorConfigError) as refused:
        load_connector(write(tmp_path, body))
    message = str(refused.value)
    assert "tool.toml" in message
    assert "action.body" in message
    assert named in message


def test_templates_cannot_include_other_files(tmp_path: Path) -> None:
    with pytest.raises(ConnectorConfigError, match=r"tool\.toml: action\.body"):
        load_connector(write(tmp_path, "{% include 'secrets.json' %}"))


def test_an_outbound_body_reads_only_the_event(tmp_path: Path) -> None:
    with pytest.raises(ConnectorConfigError, match=r"outbound\.body: .*'payload\.x' is outside"):
        load_connector(write(tmp_path, '{"a": 1}', outbound='{"x": "{{ payload.x }}"}'))
    loaded = load_connector(write(tmp_path, '{"a": 1}', outbound='{"x": "{{ event.id }}"}'))
    assert loaded.outbound is not None
    assert loaded.outbound.id == "connector-tool"


def test_an_action_on_one_pass_must_name_it(tmp_path: Path) -> None:
    path = tmp_path / "tool.toml"
    path.write_text(
        'platform = "t"\n[auth]\nscheme = "shared-secret"\nsecret_env = "S"\n'
        '[action]\nkind = "redeem"\n'
    )
    with pytest.raises(ConnectorConfigError, match=r"action\.query"):
        load_connector(path)


def test_the_demo_tenant_enables_the_shipped_definitions_unchanged() -> None:
    demo = ROOT / "config" / "tenants" / "demo" / "connectors"
    shipped = sorted(p.name for p in EXAMPLES.glob("*.toml"))
    assert shipped == ["braze.toml", "hubspot.toml", "klaviyo.toml"]
    for name in shipped:
        assert (demo / name).read_text() == (EXAMPLES / name).read_text(), name
    platforms = {c.name: c.platform for c in load_connectors(ROOT / "config" / "tenants" / "demo")}
    assert platforms == {"braze": "braze", "hubspot": "hubspot", "klaviyo": "klaviyo"}


class _Headers(dict[str, str]):
    """Case-insensitive, as Flask's."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


HUBSPOT = ConnectorAuth(scheme="hubspot-v3", secret_env="S", header="", tolerance_s=300)
URI = "https://wallet.example/connect/demo/hubspot"


def hubspot_request(body: bytes, at_ms: int, secret: str = "client-secret") -> Request:
    headers = _Headers(hubspot_headers(secret, "POST", URI, body, at_ms=at_ms))
    return Request("POST", URI, headers, body)


def test_a_hubspot_v3_signature_verifies_within_five_minutes_only() -> None:
    body = (FIXTURES / "hubspot-workflow-contact.json").read_bytes()
    now = time.time()
    key = verify(HUBSPOT, "client-secret", hubspot_request(body, int(now * 1000)), now=now)
    assert key  # a replay key for the route to remember
    stale = hubspot_request(body, int((now - 301) * 1000))
    with pytest.raises(Unauthenticated, match="tolerance"):
        verify(HUBSPOT, "client-secret", stale, now=now)
    with pytest.raises(Unauthenticated, match="does not match"):
        verify(HUBSPOT, "client-secret", hubspot_request(body, int(now * 1000), "other"), now=now)
    moved = hubspot_request(body, int(now * 1000))
    with pytest.raises(Unauthenticated, match="does not match"):
        verify(
            HUBSPOT, "client-secret", Request("POST", URI + "?x=1", moved.headers, body), now=now
        )


def test_a_shared_secret_must_match_exactly_and_has_no_replay_key() -> None:
    auth = ConnectorAuth(scheme="shared-secret", secret_env="S", header="X-Key", tolerance_s=300)
    ok = Request("POST", URI, _Headers({"x-key": "s3cret"}), b"{}")
    assert verify(auth, "s3cret", ok, now=0) is None
    for presented in ({"X-Key": "s3cre"}, {"X-Key": "s3cret "}, {}):
        with pytest.raises(Unauthenticated):
            verify(auth, "s3cret", Request("POST", URI, _Headers(presented), b"{}"), now=0)


def test_the_passwire_scheme_is_our_webhook_signature() -> None:
    auth = ConnectorAuth(scheme="passwire-v1", secret_env="S", header="", tolerance_s=300)
    now = time.time()
    header = signing.sign("k", b"{}", int(now))
    signed = Request("POST", URI, _Headers({signing.SIGNATURE_HEADER: header}), b"{}")
    assert verify(auth, "k", signed, now=now)
    with pytest.raises(Unauthenticated):
        verify(auth, "k", signed, now=now + 301)


def test_a_payload_maps_to_the_api_call_or_names_the_missing_field() -> None:
    action = load_connector(EXAMPLES / "hubspot.toml").action
    contact = json.loads((FIXTURES / "hubspot-workflow-contact.json").read_text())

    call = map_payload(action, contact)
    assert (call.kind, call.query) == ("update", {"id.crm": "3234574"})
    assert call.body == {"metadata": {"tier": "gold"}}

    del contact["properties"]["membership_tier"]
    with pytest.raises(MappingError) as missing:
        map_payload(action, contact)
    assert missing.value.field == "payload.properties.membership_tier"


def test_an_idempotency_key_is_rendered_from_the_payload() -> None:
    action = load_connector(EXAMPLES / "klaviyo.toml").action
    profile = json.loads((FIXTURES / "klaviyo-flow-webhook.json").read_text())

    call = map_payload(action, profile)

    assert call.idempotency_key == f"klaviyo-pass-{profile['profile_id']}"
    assert call.query == {"passType": "loyalty"}
    del profile["profile_id"]
    with pytest.raises(MappingError) as missing:
        map_payload(action, profile)
    assert missing.value.field == "payload.profile_id"


def test_a_webhook_may_not_take_a_connector_s_outbound_id(tmp_path: Path) -> None:
    tenant = tmp_path / "acme"
    (tenant / "connectors").mkdir(parents=True)
    (tenant / "connectors" / "tool.toml").write_text(
        HEADER_CONNECTOR.format(body='{"a": 1}') + OUTBOUND.format(body='{"id": "{{ event.id }}"}')
    )
    (tenant / "tenant.toml").write_text(
        'name = "Acme"\n[[webhooks]]\nid = "connector-tool"\nurl = "https://acme.example/h"\n'
        'events = ["*"]\nsecret_env = "ACME_SECRET"\n'
    )
    with pytest.raises(TenantConfigError, match="connector-tool"):
        load_tenant(tenant)
    (tenant / "tenant.toml").write_text('name = "Acme"\n')
    [outbound] = load_tenant(tenant).webhooks
    assert outbound.id == "connector-tool"
