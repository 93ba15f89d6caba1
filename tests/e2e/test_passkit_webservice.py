"""Apple's PassKit web service over real HTTP: registrations, updates list, log, storm guard."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from api.app import create_app
from api.apple import storm
from api.apple.routes import APPLE_PASS_SCHEME
from config.settings import Settings
from shared.infra.clock import utcnow
from shared.repositories import registrations
from shared.repositories.indexes import ensure_indexes

PASS_TYPE_ID = "pass.com.example.loyalty"


@pytest.fixture(scope="module", autouse=True)
def _indexes(db: Any) -> None:
    ensure_indexes(db)  # workers create them at start-up; these tests run no worker


def make_pass(
    db: Any, *, tenant: str = "demo", update_tag: int = 1, apple: bool = True
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_id": secrets.token_urlsafe(16),
        "tenant": tenant,
        "passType": "loyalty",
        "authenticationToken": secrets.token_urlsafe(24),
        "identifiers": {},
        "metadata": {},
        "additionalData": {},
        "version": 1,
        "createdAt": utcnow(),
        "updatedAt": utcnow(),
        "apple": {
            "passTypeIdentifier": PASS_TYPE_ID,
            "updateTag": update_tag,
            "lastModified": utcnow(),
        }
        if apple
        else None,
    }
    db.passes.insert_one(document)
    return document


def new_device() -> str:
    return secrets.token_hex(16)


def push_token() -> str:
    return secrets.token_hex(32)


def registration_url(
    base: str,
    device: str,
    serial: str,
    *,
    tenant: str = "demo",
    pass_type_identifier: str = PASS_TYPE_ID,
) -> str:
    return (
        f"{base}/apple/{tenant}/v1/devices/{device}/registrations/{pass_type_identifier}/{serial}"
    )


def auth(document: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"ApplePass {document['authenticationToken']}"}


def register(
    base: str, device: str, document: dict[str, Any], token: str | None = None
) -> requests.Response:
    return requests.post(
        registration_url(base, device, document["_id"], tenant=document["tenant"]),
        json={"pushToken": token or push_token()},
        headers=auth(document),
        timeout=10,
    )


def updated(base: str, device: str, since: str | None = None) -> requests.Response:
    params = {"passesUpdatedSince": since} if since is not None else None
    url = f"{base}/apple/demo/v1/devices/{device}/registrations/{PASS_TYPE_ID}"
    return requests.get(url, params=params, timeout=10)


def stored(db: Any, device: str) -> list[dict[str, Any]]:
    return list(db.registrations.find({"deviceLibraryIdentifier": device}))


def test_register_then_register_again_updates_the_push_token(api_url: str, db: Any) -> None:
    document, device = make_pass(db), new_device()
    first, second = push_token(), push_token()

    response = register(api_url, device, document, first)
    assert response.status_code == 201, response.text
    [created] = stored(db, device)
    assert created["pushToken"] == first
    assert created["tenant"] == "demo"
    assert created["passTypeIdentifier"] == PASS_TYPE_ID
    assert created["serialNumber"] == document["_id"]

    assert register(api_url, device, document, second).status_code == 200
    [again] = stored(db, device)
    assert again["pushToken"] == second
    assert again["createdAt"] == created["createdAt"]
    assert again["updatedAt"] >= created["updatedAt"]


def test_unregister(api_url: str, db: Any) -> None:
    document, device = make_pass(db), new_device()
    assert register(api_url, device, document).status_code == 201
    url = registration_url(api_url, device, document["_id"])
    assert requests.delete(url, headers=auth(document), timeout=10).status_code == 200
    assert stored(db, device) == []
    assert requests.delete(url, headers=auth(document), timeout=10).status_code == 200


def test_serials_updated_since_a_tag(api_url: str, db: Any) -> None:
    device, other_device = new_device(), new_device()
    passes = [make_pass(db, update_tag=tag) for tag in (10, 20, 30)]
    for document in passes:
        assert register(api_url, device, document).status_code == 201
    make_pass(db, update_tag=99)  # never registered by the device
    assert register(api_url, other_device, make_pass(db, update_tag=50)).status_code == 201
    serials = sorted(document["_id"] for document in passes)

    everything = updated(api_url, device)
    assert everything.status_code == 200
    assert everything.json() == {"serialNumbers": serials, "lastUpdated": "30"}
    newer = updated(api_url, device, "15").json()
    assert newer == {
        "serialNumbers": sorted([passes[1]["_id"], passes[2]["_id"]]),
        "lastUpdated": "30",
    }
    assert updated(api_url, device, "30").status_code == 204
    assert updated(api_url, device, "30").content == b""
    assert updated(api_url, device, "not-a-tag").json() == everything.json()
    assert updated(api_url, new_device()).status_code == 204


def test_update_tags_keep_full_precision(api_url: str, db: Any) -> None:
    device = new_device()
    near, beyond = 2**53 + 1, 2**62 + 3
    first, second = make_pass(db, update_tag=near), make_pass(db, update_tag=beyond)
    for document in (first, second):
        assert register(api_url, device, document).status_code == 201

    assert updated(api_url, device).json()["lastUpdated"] == str(beyond)
    assert updated(api_url, device, str(2**53)).json()["serialNumbers"] == sorted(
        [first["_id"], second["_id"]]
    )
    assert updated(api_url, device, str(near)).json() == {
        "serialNumbers": [second["_id"]],
        "lastUpdated": "4611686018427387907",
    }
    assert updated(api_url, device, str(beyond)).status_code == 204
    assert updated(api_url, device, "9" * 30).status_code == 204


@pytest.mark.parametrize(
    "authorization",
    [None, "", "ApplePass", "ApplePass wrong-token-wrong-token-wrong", "Bearer {token}", "{token}"],
)
def test_missing_or_wrong_token_is_401_and_writes_nothing(
    api_url: str, db: Any, authorization: str | None
) -> None:
    document, device = make_pass(db), new_device()
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=document["authenticationToken"])
    url = registration_url(api_url, device, document["_id"])
    response = requests.post(url, json={"pushToken": push_token()}, headers=headers, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["errors"] == [
        {"field": "Authorization", "reason": "missing or invalid ApplePass token"}
    ]
    assert stored(db, device) == []
    assert document["authenticationToken"] not in response.text


def test_refusals_look_alike_and_keep_registrations(api_url: str, db: Any) -> None:
    document, other, device = make_pass(db), make_pass(db), new_device()
    assert register(api_url, device, document).status_code == 201
    body = {"pushToken": push_token()}

    # Another pass's token, for registering and for unregistering.
    url = registration_url(api_url, device, document["_id"])
    with_other_token = requests.post(url, json=body, headers=auth(other), timeout=10)
    assert with_other_token.status_code == 401
    assert requests.delete(url, headers=auth(other), timeout=10).status_code == 401
    # An unknown serial answers exactly like a wrong token.
    unknown = registration_url(api_url, device, "unknown-serial-1")
    unknown_serial = requests.post(unknown, json=body, headers=auth(document), timeout=10)
    assert unknown_serial.status_code == 401
    assert unknown_serial.json() == with_other_token.json()

    [kept] = stored(db, device)
    assert kept["serialNumber"] == document["_id"]


def test_mismatched_pass_type_or_no_apple_pass_is_401(api_url: str, db: Any) -> None:
    document, device = make_pass(db), new_device()
    url = registration_url(
        api_url, device, document["_id"], pass_type_identifier="pass.com.example.other"
    )
    response = requests.post(
        url, json={"pushToken": push_token()}, headers=auth(document), timeout=10
    )
    assert response.status_code == 401
    never_rendered = make_pass(db, apple=False)
    assert register(api_url, device, never_rendered).status_code == 401
    assert stored(db, device) == []


def test_other_tenants_paths(api_url: str, db: Any) -> None:
    document, device = make_pass(db), new_device()
    body = {"pushToken": push_token()}
    rival = registration_url(api_url, device, document["_id"], tenant="rival")
    assert requests.post(rival, json=body, headers=auth(document), timeout=10).status_code == 401
    unknown = registration_url(api_url, device, document["_id"], tenant="nobody")
    response = requests.post(unknown, json=body, headers=auth(document), timeout=10)
    assert response.status_code == 404
    assert response.json()["errors"] == [{"field": "tenantId", "reason": "unknown tenant"}]
    assert stored(db, device) == []

    # The updates list of another tenant's path shows nothing of this tenant's passes.
    assert register(api_url, device, document).status_code == 201
    url = f"{api_url}/apple/rival/v1/devices/{device}/registrations/{PASS_TYPE_ID}"
    assert requests.get(url, timeout=10).status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pushToken": "not-hex-at-all-not-hex"}, "pushToken"),
        ({"pushToken": "abc123"}, "pushToken"),
        ({"pushToken": "a" * 201}, "pushToken"),
        ({"pushToken": "ab" * 16 + "\n"}, "pushToken"),
        ({}, "pushToken"),
        ({"pushToken": "ab" * 16, "extra": 1}, "extra"),
        (["ab" * 16], "body"),
    ],
)
def test_invalid_body_is_400_naming_the_field(api_url: str, db: Any, body: Any, field: str) -> None:
    document, device = make_pass(db), new_device()
    url = registration_url(api_url, device, document["_id"])
    response = requests.post(url, json=body, headers=auth(document), timeout=10)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert stored(db, device) == []


@pytest.mark.parametrize(
    ("device", "serial", "field"),
    [
        ("a" * 129, "serial-12345", "deviceLibraryIdentifier"),
        ("bad%20device", "serial-12345", "deviceLibraryIdentifier"),
        ("device-1", "abc", "serialNumber"),
        ("device-1", "serial%0A12345", "serialNumber"),
    ],
)
def test_invalid_path_is_400_naming_it(api_url: str, device: str, serial: str, field: str) -> None:
    url = registration_url(api_url, device, serial)
    response = requests.post(url, json={"pushToken": push_token()}, timeout=10)
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.fixture
def guarded_url(settings: Settings) -> Iterator[str]:
    """An API whose storm guard allows 3 calls per minute and 2 registrations per device."""
    guarded = dataclasses.replace(
        settings, apple_registration_rate=3, apple_max_registrations_per_device=2
    )
    server = make_server("127.0.0.1", 0, create_app(guarded), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_storm_guard(guarded_url: str, db: Any) -> None:
    first, second, third = (make_pass(db) for _ in range(3))
    device = new_device()
    assert register(guarded_url, device, first).status_code == 201
    assert register(guarded_url, device, second).status_code == 201
    # A third pass is beyond the device's registrations.
    full = register(guarded_url, device, third)
    assert full.status_code == 429
    assert full.headers["Retry-After"] == str(storm.LIMIT_RETRY_AFTER_S)
    assert full.json()["errors"][0]["field"] == "deviceLibraryIdentifier"
    # A fourth call within the minute is beyond the rate, even with a bad token.
    flooded = requests.delete(registration_url(guarded_url, device, first["_id"]), timeout=10)
    assert flooded.status_code == 429
    assert full.json()["code"] == flooded.json()["code"] == "too_many_requests"
    assert 1 <= int(flooded.headers["Retry-After"]) <= storm.WINDOW_S
    assert sorted(r["serialNumber"] for r in stored(db, device)) == sorted(
        [first["_id"], second["_id"]]
    )

    # At the limit, a device may still refresh what it registered.
    other = new_device()
    assert register(guarded_url, other, first).status_code == 201
    assert register(guarded_url, other, second).status_code == 201
    assert register(guarded_url, other, first).status_code == 200


def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def small_pass_url(settings: Settings) -> Iterator[str]:
    """An API letting 3 devices register a pass, behind one trusted proxy."""
    limits = {"apple_max_devices_per_pass": 3, "trusted_proxy_hops": 1}
    yield from serve(create_app(dataclasses.replace(settings, **limits)))


def client_address() -> dict[str, str]:
    """A client address of its own (set by the trusted proxy), for counters of its own."""
    return {"X-Forwarded-For": f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"}


def register_from(base: str, device: str, document: dict[str, Any], **headers: str) -> Any:
    return requests.post(
        registration_url(base, device, document["_id"]),
        json={"pushToken": push_token()},
        headers={**auth(document), **headers},
        timeout=10,
    )


def test_a_pass_is_registered_on_a_bounded_number_of_devices(small_pass_url: str, db: Any) -> None:
    document = make_pass(db)
    devices = [new_device() for _ in range(4)]
    for device in devices[:3]:
        assert register(small_pass_url, device, document).status_code == 201
    full = register(small_pass_url, devices[3], document)
    assert full.status_code == 429, full.text
    assert full.headers["Retry-After"] == str(storm.LIMIT_RETRY_AFTER_S)
    [error] = full.json()["errors"]
    assert error == {"field": "serialNumber", "reason": "already registered on 3 devices"}
    # A device that holds the pass may register again (a new push token); one leaving
    # makes room for another.
    assert register(small_pass_url, devices[0], document).status_code == 200
    assert requests.delete(
        registration_url(small_pass_url, devices[1], document["_id"]),
        headers=auth(document),
        timeout=10,
    ).ok
    assert register(small_pass_url, devices[3], document).status_code == 201
    registered = db.registrations.find({"serialNumber": document["_id"]})
    assert sorted(r["deviceLibraryIdentifier"] for r in registered) == sorted(
        [devices[0], devices[2], devices[3]]
    )


@pytest.fixture(scope="module")
def rated_url(settings: Settings) -> Iterator[str]:
    """An API allowing 3 registration calls per pass and per client address, and 2 log calls
    per client address, each per minute, behind one trusted proxy."""
    limits = {
        "apple_pass_registration_rate": 3,
        "apple_address_registration_rate": 3,
        "apple_address_log_rate": 2,
        "trusted_proxy_hops": 1,
    }
    yield from serve(create_app(dataclasses.replace(settings, **limits)))


def assert_told_to_retry(response: Any, field: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "too_many_requests"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert 1 <= int(response.headers["Retry-After"]) <= storm.WINDOW_S


def test_registration_calls_are_rated_per_pass(rated_url: str, db: Any) -> None:
    document = make_pass(db)
    for _ in range(3):  # each from another device and address: only the pass is common
        response = register_from(rated_url, new_device(), document, **client_address())
        assert response.status_code == 201
    flooded = register_from(rated_url, new_device(), document, **client_address())
    assert_told_to_retry(flooded, "serialNumber")
    assert db.registrations.count_documents({"serialNumber": document["_id"]}) == 3


def test_registration_calls_are_rated_per_client_address(rated_url: str, db: Any) -> None:
    address = client_address()
    for _ in range(3):  # each for another pass, from another device: only the address is common
        assert register_from(rated_url, new_device(), make_pass(db), **address).status_code == 201
    document = make_pass(db)
    flooded = register_from(rated_url, new_device(), document, **address)
    assert_told_to_retry(flooded, "client")
    assert db.registrations.count_documents({"serialNumber": document["_id"]}) == 0
    # Another client is not held back by this one.
    assert register_from(rated_url, new_device(), document, **client_address()).status_code == 201


def test_device_log_calls_are_rated_per_client_address(rated_url: str) -> None:
    address = client_address()
    url = f"{rated_url}/apple/demo/v1/log"
    for _ in range(2):
        assert requests.post(url, json={"logs": ["x"]}, headers=address, timeout=10).ok
    flooded = requests.post(url, json={"logs": ["x"]}, headers=address, timeout=10)
    assert_told_to_retry(flooded, "client")
    other = requests.post(url, json={"logs": ["x"]}, headers=client_address(), timeout=10)
    assert other.status_code == 200


def test_concurrent_duplicate_registrations_store_one(api_url: str, db: Any) -> None:
    document, device, token = make_pass(db), new_device(), push_token()
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        statuses.append(register(api_url, device, document, token).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(statuses) == [200] * 7 + [201]
    assert len(stored(db, device)) == 1


def test_device_log(api_url: str, caplog: pytest.LogCaptureFixture) -> None:
    secret = secrets.token_hex(32)
    logs = [f"Web service error: token {secret}\nApplePass abc", "x" * 5000] + ["m"] * 60
    with caplog.at_level(logging.WARNING, logger="api.apple.routes"):
        response = requests.post(f"{api_url}/apple/demo/v1/log", json={"logs": logs}, timeout=10)
    assert response.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "api.apple.routes"]
    assert len(lines) == 51
    assert lines[0] == (
        "apple device log tenant=demo: Web service error: token [redacted] ApplePass [redacted]"
    )
    assert all(secret not in line for line in lines)
    assert len(lines[1]) < 1100
    assert lines[-1].endswith("12 more messages dropped")
    bad = requests.post(f"{api_url}/apple/demo/v1/log", json={"log": []}, timeout=10)
    assert bad.status_code == 400


def test_repository_functions_for_delivery(api_url: str, db: Any) -> None:
    first, second = make_pass(db), make_pass(db)
    devices = [(new_device(), push_token()) for _ in range(2)]
    for device, token in devices:
        assert register(api_url, device, first, token).status_code == 201
    assert register(api_url, devices[0][0], second, devices[0][1]).status_code == 201

    tokens = registrations.push_tokens_for_passes(db, "demo", [first["_id"], second["_id"], "x"])
    assert sorted(tokens[first["_id"]]) == sorted(devices)
    assert tokens[second["_id"]] == [devices[0]]
    assert registrations.push_tokens_for_passes(db, "rival", [first["_id"]]) == {}

    assert registrations.remove_by_push_token(db, devices[0][1], PASS_TYPE_ID) == 2
    assert registrations.push_tokens_for_passes(db, "demo", [first["_id"], second["_id"]]) == {
        first["_id"]: [devices[1]]
    }
    assert registrations.remove_for_pass(db, "demo", first["_id"]) == 1
    assert registrations.push_tokens_for_passes(db, "demo", [first["_id"]]) == {}


def test_openapi_documents_the_web_service(api_url: str) -> None:
    spec = requests.get(f"{api_url}/api/openapi.json", timeout=10).json()
    assert spec["components"]["securitySchemes"]["ApplePass"] == APPLE_PASS_SCHEME
    prefix = "/apple/{tenantId}/v1/devices/{deviceLibraryIdentifier}/registrations"
    item = spec["paths"][f"{prefix}/{{passTypeIdentifier}}/{{serialNumber}}"]
    assert item["post"]["security"] == [{"ApplePass": []}]
    assert item["delete"]["security"] == [{"ApplePass": []}]
    assert spec["paths"][f"{prefix}/{{passTypeIdentifier}}"]["get"]["security"] == []
    assert spec["paths"]["/apple/{tenantId}/v1/log"]["post"]["security"] == []
