"""The live channel's handshake verdicts (shared/live/handshake.py) and its messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from shared.live.channels import LIVE_EVENTS, channel, message
from shared.live.handshake import Accepted, Refused, allowed_origins, decide, path_for
from shared.live.tokens import channel_key, issue
from shared.tenancy.tenants import Tenant, load_registry

KEY = channel_key(b"k" * 32)
NOW = 1_800_000_000
PASS = "Ed34kg3oA47abcdefghijk"
PUBLIC = "https://wallet.example.com"


@pytest.fixture(scope="module")
def demo() -> Tenant:
    registry = load_registry(Path(CONFIG_DIR) / "tenants", include_local_only=True)
    tenant = registry.get("demo")
    assert tenant is not None
    return tenant


def judge(demo: Tenant, target: str, origin: str | None = PUBLIC) -> Accepted | Refused:
    return decide(
        target,
        origin,
        find_tenant=lambda tenant_id: demo if tenant_id == "demo" else None,
        key_for=lambda _: KEY,
        public_base_url=PUBLIC,
        now=NOW,
    )


def target(pass_id: str = PASS, *, token: str | None = None, tenant: str = "demo") -> str:
    token = token if token is not None else issue(KEY, tenant, pass_id, expires_at=NOW + 60)
    return f"{path_for(tenant, pass_id)}?token={token}"


def test_a_valid_token_opens_its_pass_channel(demo: Tenant) -> None:
    assert judge(demo, target()) == Accepted("demo", PASS, channel("demo", PASS))
    assert judge(demo, target(), origin=None) == Accepted("demo", PASS, channel("demo", PASS))


def test_refusals_say_why(demo: Tenant) -> None:
    other = "Other4kg3oA47abcdefghi"
    expired = issue(KEY, "demo", PASS, expires_at=NOW)
    cases = {
        "no token": (path_for("demo", PASS), 401),
        "forged": (target(token=f"{NOW + 60}." + "A" * 43), 401),
        "another pass's token": (f"{path_for('demo', other)}?token={target().split('=')[1]}", 401),
        "expired": (target(token=expired), 403),
        "two tokens": (target() + "&token=x", 401),
        "unknown tenant": (target(tenant="nobody"), 404),
        "not the path": ("/other/demo/" + PASS, 404),
        "bad pass id": (target("a/b"), 404),
    }
    for name, (path, status) in cases.items():
        verdict = judge(demo, path)
        assert isinstance(verdict, Refused) and verdict.status == status, (name, verdict)


def test_another_sites_page_is_refused(demo: Tenant) -> None:
    verdict = judge(demo, target(), origin="https://evil.example.net")
    assert verdict == Refused(403, "origin not allowed")
    assert isinstance(judge(demo, target(), origin="HTTPS://WALLET.example.com"), Accepted)


def test_the_tenants_own_sites_are_allowed_origins(demo: Tenant) -> None:
    origins = allowed_origins(PUBLIC + "/some/path", demo)
    assert PUBLIC in origins
    for issuer_id in demo.google_issuers.issuer_ids():
        assert set(demo.google_issuers.ref(issuer_id).origins) <= origins


def test_no_link_secret_means_no_channel(demo: Tenant) -> None:
    verdict = decide(
        target(), None, find_tenant=lambda _: demo, key_for=lambda _: None,
        public_base_url=PUBLIC, now=NOW,
    )  # fmt: skip
    assert isinstance(verdict, Refused) and verdict.status == 503


def test_messages_are_the_json_a_page_reads() -> None:
    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    text = message("pass.installed", PASS, {"wallet": "apple"}, at=at)
    assert json.loads(text) == {
        "type": "pass.installed",
        "passId": PASS,
        "at": "2026-12-06T12:00:00+00:00",
        "data": {"wallet": "apple"},
    }
    assert set(LIVE_EVENTS) == {
        "pass.updated", "pass.installed", "pass.uninstalled", "pass.redeemed", "pass.status"
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown live event"):
        message("pass.created", PASS, {}, at=at)
    with pytest.raises(ValueError, match="':'"):
        channel("demo", "a:b")
