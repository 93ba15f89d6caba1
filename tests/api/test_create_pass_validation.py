"""Bad input to `POST /api/<tenantId>/passes` is refused with a JSON error naming the field,
and nothing is written to MongoDB or queued in Redis."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from config.celery import INTERACTIVE_QUEUE
from tests.conftest import DEMO_KEY, RIVAL_KEY

HEADERS = {"X-API-Key": DEMO_KEY}
URL = "/api/demo/passes?passType=loyalty"


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def nothing_written(db: Any, broker_url: str) -> Iterator[None]:
    """Fails the test if operations, passes or queued jobs change across it."""
    queue = redis.Redis.from_url(broker_url)

    def snapshot() -> tuple[int, int, int]:
        return (
            db.operations.count_documents({}),
            db.passes.count_documents({}),
            queue.llen(INTERACTIVE_QUEUE),
        )

    before = snapshot()
    yield
    assert snapshot() == before


def _fields(response: Any) -> dict[str, str]:
    body = response.get_json()
    assert set(body) == {"status", "code", "message", "errors"}
    assert body["status"] == response.status_code
    return {error["field"]: error["reason"] for error in body["errors"]}


@pytest.mark.usefixtures("nothing_written")
class TestRefusedRequests:
    def test_malformed_json(self, client: Any) -> None:
        response = client.post(
            URL, data='{"identifiers": ', headers={**HEADERS, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert "not valid JSON" in _fields(response)["body"]

    def test_unknown_field(self, client: Any) -> None:
        response = client.post(URL, json={"identifiers": {}, "colour": "red"}, headers=HEADERS)
        assert response.status_code == 422
        assert _fields(response) == {"colour": "Unknown field."}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"identifiers": "C-1"}, "identifiers._"),
            ({"identifiers": {"crm": 42}}, "identifiers.crm"),
            ({"identifiers": {"crm": ""}}, "identifiers.crm"),
            ({"identifiers": {"bad.key": "x"}}, "identifiers.bad.key"),
            ({"metadata": {"store": ["a", "b"]}}, "metadata.store"),
            ({"metadata": {"$where": "1"}}, "metadata.$where"),
            ({"additionalData": [1, 2]}, "additionalData._"),
            ({"metadata": {"n": 99999999999999999999}}, "metadata.n"),
            ({"additionalData": {"x": [{"$where": 1}]}}, "additionalData.x.0.$where"),
            ({"additionalData": {"a": [[[[[[1]]]]]]}}, "additionalData.a.0.0.0.0"),
            ({"identifiers": {"crm\n": "x"}}, "identifiers.crm\n"),
            ({"identifiers": {"crm": ".."}}, "identifiers.crm"),
        ],
    )
    def test_wrong_types(self, client: Any, body: dict[str, Any], field: str) -> None:
        response = client.post(URL, json=body, headers=HEADERS)
        assert response.status_code == 422
        assert field in _fields(response)

    def test_non_finite_numbers(self, client: Any) -> None:
        raw = '{"metadata": {"ratio": NaN}}'
        response = client.post(
            URL, data=raw, headers={**HEADERS, "Content-Type": "application/json"}
        )
        assert response.status_code == 422
        assert _fields(response) == {"metadata.ratio": "must be a finite number"}

    def test_hostile_nesting(self, client: Any) -> None:
        raw = '{"additionalData": ' + "[" * 5000 + "]" * 5000 + "}"
        response = client.post(
            URL, data=raw, headers={**HEADERS, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert "body" in _fields(response)

    def test_unknown_query_parameter(self, client: Any) -> None:
        response = client.post(URL + "&colour=red", json={}, headers=HEADERS)
        assert response.status_code == 422
        assert "colour" in _fields(response)

    def test_chunked_non_json_body(self, client: Any) -> None:
        response = client.post(
            URL,
            input_stream=io.BytesIO(b'{"colour": 1}'),
            headers={**HEADERS, "Content-Type": "text/plain", "Transfer-Encoding": "chunked"},
        )
        assert response.status_code == 415

    def test_body_not_an_object(self, client: Any) -> None:
        response = client.post(URL, json=[1, 2, 3], headers=HEADERS)
        assert response.status_code == 422
        assert "_schema" in _fields(response)

    def test_missing_pass_type(self, client: Any) -> None:
        response = client.post("/api/demo/passes", json={}, headers=HEADERS)
        assert response.status_code == 422
        assert "passType" in _fields(response)

    def test_unknown_pass_type(self, client: Any) -> None:
        response = client.post("/api/demo/passes?passType=no-such-type", json={}, headers=HEADERS)
        assert response.status_code == 422
        assert "no such pass type" in _fields(response)["passType"]

    def test_unknown_tenant(self, client: Any) -> None:
        response = client.post("/api/nobody/passes?passType=loyalty", json={}, headers=HEADERS)
        assert response.status_code == 404
        assert "tenantId" in _fields(response)

    def test_tenants_cannot_be_probed_without_a_key(self, client: Any) -> None:
        for tenant in ("nobody", "demo"):
            response = client.post(f"/api/{tenant}/passes?passType=loyalty", json={})
            assert response.status_code == 401

    def test_oversize_body(self, client: Any) -> None:
        body = {"additionalData": {"blob": "x" * 2000, **{f"k{i}": "y" * 2000 for i in range(40)}}}
        response = client.post(URL, json=body, headers=HEADERS)
        assert response.status_code == 413
        assert "too large" in _fields(response)["body"]

    def test_not_json_content_type(self, client: Any) -> None:
        response = client.post(
            URL,
            data="identifiers=x",
            headers={**HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 415
        assert "Content-Type" in _fields(response)

    def test_missing_api_key(self, client: Any) -> None:
        response = client.post(URL, json={})
        assert response.status_code == 401
        assert "X-API-Key" in _fields(response)

    def test_wrong_api_key(self, client: Any) -> None:
        response = client.post(URL, json={}, headers={"X-API-Key": "guess"})
        assert response.status_code == 401

    def test_another_tenants_key(self, client: Any) -> None:
        response = client.post(URL, json={}, headers={"X-API-Key": RIVAL_KEY})
        assert response.status_code == 403


def test_wrong_method_keeps_the_allow_header(client: Any) -> None:
    response = client.put("/api/demo/passes", json={}, headers=HEADERS)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.get_json()["code"] == "method_not_allowed"


def test_unknown_route_uses_the_envelope(client: Any) -> None:
    response = client.get("/api/demo/nothing-here", headers=HEADERS)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_openapi_document_describes_the_endpoints(client: Any) -> None:
    spec = client.get("/api/openapi.json").get_json()
    paths = spec["paths"]
    assert "post" in paths["/api/{tenantId}/passes"]
    assert {"get", "delete"} <= set(paths["/api/{tenantId}/operations/{correlationId}"])
    assert {"/healthz", "/readyz"} <= set(paths)
    create = paths["/api/{tenantId}/passes"]["post"]
    assert "202" in create["responses"]
    assert "identifiers" in spec["components"]["schemas"]["CreatePass"]["properties"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    error = spec["components"]["schemas"]["Error"]["properties"]
    assert {"status", "code", "message", "errors"} <= set(error)
