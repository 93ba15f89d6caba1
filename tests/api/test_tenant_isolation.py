"""Every tenant endpoint, called with another tenant's credential, a credential lacking the
endpoint's scope, or a bad token: refused, no data, no write. Endpoints are enumerated from
the app's URL map, so a new endpoint is covered the day it is added."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from shared.credentials.api_keys import issue_key
from shared.credentials.scopes import ALL_SCOPES, IMPLIED_BY
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id, new_pass_id
from tests.conftest import RIVAL_KEY

COLLECTIONS = (
    "passes",
    "operations",
    "registrations",
    "api_keys",
    "idempotency_keys",
    "import_batches",
    "passtype_versions",
    "passtype_blobs",
    "passtype_active",
    "connectors",
)


def _tenant_endpoints(app: Any) -> list[tuple[str, str, Any]]:
    endpoints = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/<tenantId>/"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            handler = getattr(getattr(view, "view_class", None), method.lower(), view)
            endpoints.append((method, rule.rule, handler))
    return endpoints


@pytest.fixture(scope="module")
def demo_data(db: Any) -> dict[str, str]:
    now = utcnow()
    pass_id, correlation_id = new_pass_id(), new_correlation_id()
    db.passes.insert_one(
        {
            "_id": pass_id,
            "tenant": "demo",
            "passType": "loyalty",
            "authenticationToken": "t" * 32,
            "identifiers": {"crm": "secret-demo-customer"},
            "metadata": {},
            "additionalData": {},
            "version": 1,
            "createdAt": now,
            "updatedAt": now,
        }
    )
    db.operations.insert_one(
        {"_id": correlation_id, "tenant": "demo", "kind": "create", "status": "queued",
         "counters": {"total": 1, "processed": 0, "succeeded": 0, "failed": 0, "cancelled": 0},
         "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    return {
        "passId": pass_id,
        "correlationId": correlation_id,
        "importId": _demo_import(db, pass_id),
    }


def _demo_import(db: Any, pass_id: str) -> str:
    """A finished demo import whose results name the demo pass."""
    now, correlation_id = utcnow(), new_correlation_id()
    db.operations.insert_one(
        {"_id": correlation_id, "tenant": "demo", "kind": "import", "status": "completed",
         "counters": {"total": 1, "processed": 1, "succeeded": 1, "failed": 0, "cancelled": 0},
         "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    db.import_batches.insert_one(
        {"_id": f"{correlation_id}:000000", "tenant": "demo", "correlationId": correlation_id,
         "index": 0, "rows": [2], "createdAt": now,
         "results": [{"row": 2, "passId": pass_id, "status": "succeeded", "error": None}]}
    )  # fmt: skip
    return correlation_id


def _url(rule: str, values: dict[str, str]) -> str:
    if rule in {r for _, r in IMPORT_ENDPOINTS}:
        values = {**values, "correlationId": values["importId"]}
    # The demo loyalty card, version 1 (its folder): what a refused caller must not touch.
    url = rule.replace("<tenantId>", "demo").replace("<name>", "loyalty")
    url = url.replace("<int:number>", "1")
    for name, value in values.items():
        url = url.replace(f"<{name}>", value)
    while "<" in url:  # any other parameter: a plausible value
        start = url.index("<")
        url = url[:start] + "x1234567" + url[url.index(">", start) + 1 :]
    return url


def _snapshot(db: Any, demo_data: dict[str, str]) -> tuple[Any, ...]:
    counts = tuple(db[name].count_documents({}) for name in COLLECTIONS)
    return (
        counts,
        db.passes.find_one({"_id": demo_data["passId"]}),
        db.operations.find_one({"_id": demo_data["correlationId"]}),
        db.import_batches.find_one({"correlationId": demo_data["importId"]}),
    )


@pytest.fixture
def unchanged(db: Any, demo_data: dict[str, str]) -> Iterator[None]:
    before = _snapshot(db, demo_data)
    yield
    assert _snapshot(db, demo_data) == before


def _call(client: Any, method: str, url: str, headers: dict[str, str]) -> Any:
    if method == "POST" and url.endswith("/imports"):
        # A file that would be accepted: a refused caller must store no rows, start nothing.
        csv_file = "id.crm,metadata.store\r\nsecret-demo-customer,42\r\n"
        return client.post(url, data=csv_file, content_type="text/csv", headers=headers)
    if method == "PUT" and "/connectors/" in url:
        # A definition that would be stored: a refused caller must store nothing.
        return client.put(
            url, data=CONNECTOR_TOML, content_type="application/toml", headers=headers
        )
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.open(url, method=method, json=body, headers=headers)


# Endpoints that change a pass in one atomic write (a refused caller must change nothing):
# named so the matrix below provably walks them.
LIFECYCLE_ENDPOINTS = {
    ("PUT", "/api/<tenantId>/passes/<passId>/status"),
    ("POST", "/api/<tenantId>/passes/<passId>/redeem"),
    ("POST", "/api/<tenantId>/redemptions"),
    ("POST", "/api/<tenantId>/passes/<passId>/balance"),
}
# Sends mail to the address in its body: a refused caller must queue nothing.
EMAIL_ENDPOINTS = {("POST", "/api/<tenantId>/passes/<passId>/email")}
# Starts a campaign that messages the pass's holder: a refused caller must queue nothing.
NOTIFICATION_ENDPOINTS = {("PUT", "/api/<tenantId>/passes/<passId>/notification")}
# Voids, then deletes or erases the pass: a refused caller must change and queue nothing.
DELETION_ENDPOINTS = {("DELETE", "/api/<tenantId>/passes/<passId>")}
# Stores a file's rows and starts an import; serves a demo import's results (naming the
# demo pass): a refused caller must store, queue and read nothing.
IMPORT_ENDPOINTS = {
    ("POST", "/api/<tenantId>/imports"),
    ("GET", "/api/<tenantId>/imports/<correlationId>/results.csv"),
}

# Store, activate (starting a re-render campaign) and preview pass type versions: a refused
# caller must store, activate and queue nothing.
PASSTYPE_ENDPOINTS = {
    ("GET", "/api/<tenantId>/passtypes"),
    ("GET", "/api/<tenantId>/passtypes/<name>"),
    ("PUT", "/api/<tenantId>/passtypes/<name>"),
    ("GET", "/api/<tenantId>/passtypes/<name>/versions"),
    ("POST", "/api/<tenantId>/passtypes/<name>/versions/<int:number>/activate"),
    ("POST", "/api/<tenantId>/passtypes/<name>/preview"),
}

# Define, replace and delete connectors: a refused caller must store and delete nothing.
CONNECTOR_ENDPOINTS = {
    ("GET", "/api/<tenantId>/connectors"),
    ("GET", "/api/<tenantId>/connectors/<name>"),
    ("PUT", "/api/<tenantId>/connectors/<name>"),
    ("DELETE", "/api/<tenantId>/connectors/<name>"),
}
CONNECTOR_TOML = """platform = "tool"
[auth]
scheme = "shared-secret"
secret_env = "KLAVIYO_CONNECTOR_SECRET"
[action]
kind = "create"
query = '{"passType": "loyalty"}'
"""


def test_every_tenant_endpoint_declares_a_scope(app: Any) -> None:
    endpoints = _tenant_endpoints(app)
    assert len(endpoints) >= 5
    assert {(method, rule) for method, rule, _ in endpoints} >= LIFECYCLE_ENDPOINTS
    assert {(method, rule) for method, rule, _ in endpoints} >= EMAIL_ENDPOINTS
    assert {(method, rule) for method, rule, _ in endpoints} >= NOTIFICATION_ENDPOINTS
    assert {(method, rule) for method, rule, _ in endpoints} >= DELETION_ENDPOINTS
    assert {(method, rule) for method, rule, _ in endpoints} >= IMPORT_ENDPOINTS
    assert {(method, rule) for method, rule, _ in endpoints} >= PASSTYPE_ENDPOINTS
    assert {(method, rule) for method, rule, _ in endpoints} >= CONNECTOR_ENDPOINTS
    missing = [
        f"{m} {r}" for m, r, handler in endpoints if not getattr(handler, "required_scope", None)
    ]
    assert missing == []


@pytest.mark.usefixtures("unchanged")
def test_another_tenants_key_gets_nothing(app: Any, demo_data: dict[str, str]) -> None:
    client = app.test_client()
    for method, rule, _ in _tenant_endpoints(app):
        response = _call(client, method, _url(rule, demo_data), {"X-API-Key": RIVAL_KEY})
        assert response.status_code in {403, 404}, (method, rule, response.status_code)
        assert b"secret-demo-customer" not in response.data
        assert demo_data["passId"].encode() not in response.data


@pytest.fixture
def keys_lacking_one_scope(db: Any) -> Iterator[dict[str, str]]:
    """Per scope, a demo key granting every other scope (but the one implying it)."""
    keys = {
        scope: issue_key(
            db,
            tenant_id="demo",
            name=f"all-but-{scope}",
            scopes=ALL_SCOPES - {scope, IMPLIED_BY.get(scope)},
            now=utcnow(),
        ).plaintext
        for scope in ALL_SCOPES
    }
    yield keys
    db.api_keys.delete_many({"name": {"$regex": "^all-but-"}})


@pytest.mark.usefixtures("unchanged")
def test_a_key_without_the_scope_is_403(
    app: Any, demo_data: dict[str, str], keys_lacking_one_scope: dict[str, str]
) -> None:
    client = app.test_client()
    for method, rule, handler in _tenant_endpoints(app):
        scope = handler.required_scope
        headers = {"X-API-Key": keys_lacking_one_scope[scope]}
        response = _call(client, method, _url(rule, demo_data), headers)
        assert response.status_code == 403, (method, rule, response.status_code)
        if response.is_json:
            assert response.get_json()["errors"] == [{"field": "scope", "reason": scope}]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("problem", ["expired", "forged", "no-credential"])
def test_bad_tokens_are_401_everywhere(
    app: Any, demo_data: dict[str, str], monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    monkeypatch.setenv("RIVAL_JWT_SECRET", "rival-jwt-secret-for-tests-only-0123456789")
    claims = {"aud": "passwire-tests", "exp": int(time.time()) + 300, "scope": " ".join(ALL_SCOPES)}
    if problem == "expired":
        claims["exp"] = int(time.time()) - 3600
    secret = (
        "forged-secret-of-sufficient-length-0123456789"
        if problem == "forged"
        else ("rival-jwt-secret-for-tests-only-0123456789")
    )
    token = jwt.encode(claims, secret, algorithm="HS256")
    headers = {} if problem == "no-credential" else {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    for method, rule, _ in _tenant_endpoints(app):
        url = _url(rule, demo_data).replace("/api/demo/", "/api/rival/", 1)
        response = _call(client, method, url, headers)
        assert response.status_code == 401, (method, rule, response.status_code)
