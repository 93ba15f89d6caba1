from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import requests

from api.app import create_app
from config.settings import Settings
from tests.support.processes import free_port


def test_healthz(api_url: str) -> None:
    response = requests.get(f"{api_url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_redis_and_mongodb_answer(api_url: str) -> None:
    response = requests.get(f"{api_url}/readyz", timeout=5)
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "redis": "ok",
        "mongodb": "ok",
        "apple_certificates": "ok",
        "google_credentials": "ok",
    }


def test_readyz_names_what_is_unreachable(settings: Settings) -> None:
    closed = free_port()
    broken = dataclasses.replace(settings, mongodb_uri=f"mongodb://127.0.0.1:{closed}/passwire")
    client: Any = create_app(broken).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "not_ready"
    assert [error["field"] for error in body["errors"]] == ["mongodb"]

    both = dataclasses.replace(broken, redis_url=f"redis://127.0.0.1:{closed}/0")
    body = create_app(both).test_client().get("/readyz").get_json()
    assert sorted(error["field"] for error in body["errors"]) == ["mongodb", "redis"]


def test_readyz_names_an_unusable_apple_certificate(settings: Settings, tmp_path: Path) -> None:
    tenant = tmp_path / "broken"
    tenant.mkdir()
    (tenant / "tenant.toml").write_text(
        'name = "Broken"\n[[apple_certificates]]\npass_type_identifier = "pass.example.broken"\n'
        'certificate = "missing.pem"\nkey = "missing.key"\nwwdr = "wwdr.pem"\n'
    )
    client: Any = create_app(dataclasses.replace(settings, tenants_dir=tmp_path)).test_client()
    body = client.get("/readyz").get_json()
    assert body["status"] == 503
    problem = next(e for e in body["errors"] if e["field"] == "apple_certificates")
    assert "pass.example.broken" in problem["reason"]
    assert "missing.pem" in problem["reason"]


def test_readyz_names_an_unusable_google_service_account(
    settings: Settings, tmp_path: Path
) -> None:
    tenant = tmp_path / "broken"
    tenant.mkdir()
    (tenant / "sa.json").write_text('{"type": "service_account", "client_email": "x@y"}')
    (tenant / "tenant.toml").write_text(
        'name = "Broken"\n[[google_issuers]]\nissuer_id = "3388000000011111111"\n'
        'service_account_key = "sa.json"\n'
    )
    client: Any = create_app(dataclasses.replace(settings, tenants_dir=tmp_path)).test_client()
    body = client.get("/readyz").get_json()
    assert body["status"] == 503
    problem = next(e for e in body["errors"] if e["field"] == "google_credentials")
    assert problem["reason"].startswith("broken: ")  # the tenant, then the issuer and file
    assert "3388000000011111111" in problem["reason"]
    assert "sa.json" in problem["reason"]
