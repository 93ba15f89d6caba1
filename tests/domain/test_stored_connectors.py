"""Connectors defined through the API reach every process without a restart: the registry
overlay adds a tenant's stored definitions to its files' (its `[outbound]` endpoint among the
webhooks an event is emitted to), re-reads them once per ttl (0 in workers: per job), lets a
file's connector win over a stored one of the same name, and skips a stored definition that
no longer loads in this process instead of failing the tenant."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from config.settings import Settings
from shared.connectors.stored import StoredConnectors
from shared.infra.clock import utcnow
from shared.repositories import connectors as repo
from shared.tenancy.tenants import Tenant, load_registry
from shared.webhooks.events import emit

TOOL = """
platform = "tool"
[auth]
scheme = "shared-secret"
secret_env = "TOOL_SECRET"
[action]
kind = "create"
query = '{{"passType": "loyalty"}}'
[outbound]
url = "{url}"
events = ["pass.installed"]
secret_env = "TOOL_OUTBOUND_SECRET"
body = '{{"profile": "{{{{ event.data.passId }}}}"}}'
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def demo(settings: Settings) -> Tenant:
    tenant = load_registry(settings.tenants_dir, include_local_only=True).tenants["demo"]
    return tenant


@pytest.fixture
def names(db: Any) -> Iterator[list[str]]:
    """Stored connector names to delete afterwards (other tests share the demo tenant)."""
    created: list[str] = []
    yield created
    for name in created:
        repo.delete(db, "demo", name)


def _put(db: Any, names: list[str], name: str, text: str) -> None:
    names.append(name)
    repo.put(db, "demo", name, text, platform="tool", now=utcnow())


def test_a_stored_connector_joins_the_tenant_and_its_outbound_gets_events(
    db: Any, demo: Tenant, names: list[str]
) -> None:
    name = f"tool-{secrets.token_hex(4)}"
    overlay = StoredConnectors(lambda: db, ttl_s=0)
    assert name not in {c.name for c in overlay(demo).connectors}

    _put(db, names, name, TOOL.format(url="http://127.0.0.1:9/tool"))
    tenant = overlay(demo)

    assert {c.name for c in demo.connectors} < {c.name for c in tenant.connectors}
    assert name in {c.name for c in tenant.connectors}
    pass_id = f"P-{secrets.token_hex(6)}"
    emit(db, "demo", tenant.webhooks, "pass.installed", {"passId": pass_id}, now=utcnow())
    delivery = db.webhook_deliveries.find_one({"endpoint.id": f"connector-{name}"})
    assert delivery["endpoint"]["url"] == "http://127.0.0.1:9/tool"
    assert json.loads(delivery["body"]) == {"profile": pass_id}

    repo.delete(db, "demo", name)
    assert name not in {c.name for c in overlay(demo).connectors}
    assert f"connector-{name}" not in {e.id for e in overlay(demo).webhooks}


def test_the_api_reads_stored_definitions_at_most_once_per_ttl(
    db: Any, demo: Tenant, names: list[str]
) -> None:
    clock = Clock()
    overlay = StoredConnectors(lambda: db, ttl_s=1.0, clock=clock)
    name = f"tool-{secrets.token_hex(4)}"
    before = overlay(demo)

    _put(db, names, name, TOOL.format(url="http://127.0.0.1:9/tool"))
    clock.now = 0.5
    assert overlay(demo) is before  # within the ttl: no read, the same tenant
    clock.now = 1.5
    assert name in {c.name for c in overlay(demo).connectors}


def test_a_file_connector_wins_and_a_broken_definition_is_skipped(
    db: Any, demo: Tenant, names: list[str]
) -> None:
    overlay = StoredConnectors(lambda: db, ttl_s=0)
    broken, fine = f"tool-{secrets.token_hex(4)}", f"tool-{secrets.token_hex(4)}"
    _put(db, names, "klaviyo", TOOL.format(url="http://127.0.0.1:9/shadowed"))
    # Stored while its URL's variable was set; this process does not have it.
    _put(db, names, broken, TOOL.format(url="${UNSET_TOOL_URL_VARIABLE}"))
    _put(db, names, fine, TOOL.format(url="http://127.0.0.1:9/tool"))

    tenant = overlay(demo)

    by_name = {c.name: c for c in tenant.connectors}
    assert by_name["klaviyo"] == next(c for c in demo.connectors if c.name == "klaviyo")
    assert broken not in by_name
    assert fine in by_name
    assert "http://127.0.0.1:9/shadowed" not in {e.url for e in tenant.webhooks}
