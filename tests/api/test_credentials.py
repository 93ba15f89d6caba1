"""Issued API keys, scopes, JWT bearer tokens and the `passwire keys` CLI, against the real
MongoDB (wire server or MONGODB_URI)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.cli import main as cli
from shared.credentials.api_keys import issue_key
from shared.infra.clock import utcnow
from tests.conftest import RIVAL_KEY

SECRET = "rival-jwt-secret-for-tests-only-0123456789"


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def jwt_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RIVAL_JWT_SECRET", SECRET)
    return SECRET


def _token(secret: str = SECRET, **claims: Any) -> str:
    body = {"aud": "passwire-tests", "exp": int(time.time()) + 300, "sub": "crm", **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


def _get_operation(client: Any, tenant: str, headers: dict[str, str]) -> Any:
    return client.get(f"/api/{tenant}/operations/{'0' * 32}", headers=headers)


def test_an_issued_key_works_for_its_scopes_only(client: Any, db: Any) -> None:
    issued = issue_key(
        db, tenant_id="demo", name="reader", scopes=frozenset({"Operation.Read"}), now=utcnow()
    )
    headers = {"X-API-Key": issued.plaintext}
    assert _get_operation(client, "demo", headers).status_code == 404  # authorized, no such op
    refused = client.post("/api/demo/passes?passType=loyalty", json={}, headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["errors"] == [{"field": "scope", "reason": "Pass.Write"}]
    assert db.api_keys.find_one({"_id": issued.key_id})["keyHash"] != issued.plaintext


@pytest.mark.usefixtures("cli_env")
def test_a_revoked_or_altered_key_is_refused(client: Any, db: Any) -> None:
    issued = issue_key(
        db, tenant_id="demo", name="temp", scopes=frozenset({"Operation.Read"}), now=utcnow()
    )
    altered = issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")
    assert _get_operation(client, "demo", {"X-API-Key": altered}).status_code == 401
    assert cli(["keys", "revoke", issued.key_id]) == 0
    assert _get_operation(client, "demo", {"X-API-Key": issued.plaintext}).status_code == 401
    assert cli(["keys", "revoke", issued.key_id]) == 1


def test_a_key_of_another_tenant_is_403(client: Any, db: Any) -> None:
    issued = issue_key(
        db, tenant_id="rival", name="x", scopes=frozenset({"Operation.Read"}), now=utcnow()
    )
    assert _get_operation(client, "demo", {"X-API-Key": issued.plaintext}).status_code == 403
    assert _get_operation(client, "demo", {"X-API-Key": RIVAL_KEY}).status_code == 403


@pytest.mark.usefixtures("cli_env")
def test_the_cli_creates_lists_and_never_shows_hashes(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli(
            [
                "keys",
                "create",
                "--tenant",
                "demo",
                "--name",
                "cli-made",
                "--scopes",
                "Pass.Read,Operation.Read",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    key = next(line.split()[-1] for line in printed.splitlines() if line.startswith("key:"))
    key_id = key.split("_")[1]
    assert cli(["keys", "list", "--tenant", "demo"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "cli-made" in listing and key not in listing
    assert (
        cli(["keys", "create", "--tenant", "demo", "--name", "bad", "--scopes", "Pass.Everything"])
        == 2
    )
    assert (
        cli(["keys", "create", "--tenant", "nobody", "--name", "bad", "--scopes", "Pass.Read"]) == 2
    )


class TestBearerTokens:
    def test_a_valid_token_grants_its_scopes(self, client: Any, jwt_secret: str) -> None:
        headers = {"Authorization": f"Bearer {_token(scope='Operation.Read')}"}
        assert _get_operation(client, "rival", headers).status_code == 404
        refused = client.post("/api/rival/passes?passType=coupon", json={}, headers=headers)
        assert refused.status_code == 403

    @pytest.mark.parametrize(
        ("claims", "secret", "reason"),
        [
            ({"exp": int(time.time()) - 3600}, SECRET, "expired"),
            ({}, "someone-elses-secret-of-some-length", "signature"),
            ({"aud": "another-service"}, SECRET, "audience"),
            ({"exp": None}, SECRET, "exp"),
            ({"tenant": "demo"}, SECRET, "another tenant"),
        ],
    )
    def test_bad_tokens_are_401(
        self, client: Any, jwt_secret: str, claims: dict[str, Any], secret: str, reason: str
    ) -> None:
        headers = {"Authorization": f"Bearer {_token(secret, scope='Operation.Read', **claims)}"}
        response = _get_operation(client, "rival", headers)
        assert response.status_code == 401
        assert reason in response.get_json()["errors"][0]["reason"]

    def test_a_tenant_without_jwt_config_refuses_tokens(self, client: Any, jwt_secret: str) -> None:
        headers = {"Authorization": f"Bearer {_token(scope='Operation.Read')}"}
        assert _get_operation(client, "demo", headers).status_code == 401
        assert _get_operation(client, "nobody", headers).status_code == 401

    def test_an_unsigned_token_is_401(self, client: Any, jwt_secret: str) -> None:
        unsigned = jwt.encode(
            {"aud": "passwire-tests", "exp": int(time.time()) + 60, "scope": "Operation.Read"},
            None,
            algorithm="none",
        )
        response = _get_operation(client, "rival", {"Authorization": f"Bearer {unsigned}"})
        assert response.status_code == 401


def test_an_rs256_token_signed_by_the_tenants_key_is_accepted(client: Any, settings: Any) -> None:
    private_key = (settings.tenants_dir / "rival" / "jwt-private.pem").read_bytes()
    claims = {"aud": "passwire-tests", "exp": int(time.time()) + 300, "scp": ["Operation.Read"]}
    token = jwt.encode(claims, private_key, algorithm="RS256")
    headers = {"Authorization": f"Bearer {token}"}
    assert _get_operation(client, "rival", headers).status_code == 404  # authorized
    assert client.get("/api/rival/passes", headers=headers).status_code == 403  # no Pass.Read
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256")
    assert _get_operation(client, "rival", {"Authorization": f"Bearer {forged}"}).status_code == 401
