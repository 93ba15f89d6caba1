"""The fake Google Wallet API behaves like Google for a client: OAuth2 JWT-bearer tokens,
walletobjects v1 REST with Google's errors, quotas, fault injection, callbacks."""

from __future__ import annotations

import concurrent.futures
import functools
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import google.auth.jwt
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request

from dev.fake_google import FakeGoogleControl
from dev.fake_google.oauth import JWT_BEARER, WALLET_SCOPE
from shared.google.callbacks import CallbackRejected, parse_root_keys, verify_callback
from tests.support.google import (
    ISSUER_ID,
    OTHER_ISSUER_ID,
    RunningFakeGoogle,
    certificates_by_key_id,
    credentials_for,
    fetch_access_token,
    running_fake_google,
    start_fake_google,
)

CLASS_ID = f"{ISSUER_ID}.coffee-card"
OBJECT_ID = f"{ISSUER_ID}.member-42"


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFakeGoogle]:
    directory = tmp_path_factory.mktemp("google-accounts")
    with running_fake_google(directory, accounts=("passwire-tests", "rival-tests")) as running:
        yield running


@pytest.fixture(scope="module")
def token(fake: RunningFakeGoogle) -> str:
    return fetch_access_token(fake.service_account.key_file)


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    """An RSA key no registered service account has."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def control(fake: RunningFakeGoogle) -> Iterator[FakeGoogleControl]:
    control = fake.control
    control.reset()
    yield control
    control.reset()


@pytest.fixture
def api(fake: RunningFakeGoogle, token: str, control: FakeGoogleControl) -> Iterator[Api]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        yield Api(fake.base_url + "/walletobjects/v1", session)


class Api:
    def __init__(self, base: str, session: requests.Session) -> None:
        self.base, self.session = base, session

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.base + path, json=body, timeout=5)

    def loyalty_class(self, class_id: str = CLASS_ID) -> None:
        response = self.call("POST", "/loyaltyClass", {"id": class_id, "issuerName": "Demo"})
        assert response.status_code == 200, response.text

    def loyalty_object(self, object_id: str = OBJECT_ID, class_id: str = CLASS_ID) -> None:
        self.loyalty_class(class_id)
        body = {"id": object_id, "classId": class_id, "state": "ACTIVE"}
        response = self.call("POST", "/loyaltyObject", body)
        assert response.status_code == 200, response.text

    def add_message(self, message_type: str, object_id: str = OBJECT_ID) -> requests.Response:
        message = {"header": "Hi", "body": "News", "id": f"m-{time.monotonic_ns()}"}
        body = {"message": {**message, "messageType": message_type}}
        return self.call("POST", f"/loyaltyObject/{object_id}/addMessage", body)


def google_error(response: requests.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    assert error["errors"][0]["domain"] == "global"
    return error["code"], error["status"], error["errors"][0]["reason"]


def assertion(fake: RunningFakeGoogle, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
    """A JWT-bearer assertion of the first service account, signed with ``key`` (its own
    key by default), with ``claims`` overriding the usual ones."""
    account = json.loads(fake.service_account.key_file.read_text())
    own = _private_key(account["private_key"])
    now = int(time.time())
    payload = {
        "iss": account["client_email"],
        "scope": WALLET_SCOPE,
        "aud": fake.token_uri,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    headers = {"kid": account["private_key_id"]}
    return jwt.encode(payload, key or own, algorithm="RS256", headers=headers)


@functools.cache
def _private_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode(), password=None)  # slow: checks it


def exchange(fake: RunningFakeGoogle, signed: str) -> requests.Response:
    form = {"grant_type": JWT_BEARER, "assertion": signed}
    return requests.post(fake.token_uri, data=form, timeout=5)


# -- OAuth2 ---------------------------------------------------------------------------------


def test_google_auth_gets_a_token_from_the_fake(
    fake: RunningFakeGoogle, control: FakeGoogleControl
) -> None:
    email = fake.service_account.client_email
    # Issued tokens outlive a reset (other tests of this module may have taken some).
    issued_before = control.state()["tokens_issued_by_email"].get(email, 0)
    credentials = credentials_for(fake.service_account.key_file)
    credentials.refresh(Request())
    assert str(credentials.token).startswith("ya29.")
    assert credentials.valid
    state = control.state()
    assert state["counters"]["token_requests"] == 1
    assert state["counters"]["tokens_issued"] == 1
    assert state["tokens_issued_by_email"][email] == issued_before + 1
    last = state["log"][-1]
    assert (last["method"], last["path"], last["status"]) == ("POST", "/token", 200)
    got = requests.get(
        f"{fake.base_url}/walletobjects/v1/loyaltyClass/{CLASS_ID}",
        headers={"Authorization": f"Bearer {credentials.token}"},
        timeout=5,
    )
    assert got.status_code == 404  # authenticated: the class just does not exist


def test_forged_or_malformed_assertions_are_refused(
    fake: RunningFakeGoogle, control: FakeGoogleControl, stranger_key: rsa.RSAPrivateKey
) -> None:
    cases = {
        "forged": assertion(fake, stranger_key),
        "wrong audience": assertion(fake, aud="https://walletobjects.googleapis.com/"),
        "expired": assertion(fake, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "too long-lived": assertion(fake, exp=int(time.time()) + 7200),
        "unknown account": assertion(fake, iss="nobody@passwire-dev.iam.gserviceaccount.com"),
        "not a JWT": "not.a.jwt",
    }
    for case, signed in cases.items():
        response = exchange(fake, signed)
        assert response.status_code == 400, case
        assert response.json()["error"] == "invalid_grant", case
    assert exchange(fake, assertion(fake, scope="")).json()["error"] == "invalid_scope"
    form = {"grant_type": "client_credentials", "assertion": assertion(fake)}
    refused = requests.post(fake.token_uri, data=form, timeout=5)
    assert refused.json()["error"] == "unsupported_grant_type"
    counters = control.counters()
    assert counters["token_failures"] == len(cases) + 2
    assert counters["tokens_issued"] == 0


def test_google_auth_reports_a_refused_grant(
    fake: RunningFakeGoogle, tmp_path: Path, stranger_key: rsa.RSAPrivateKey
) -> None:
    key_file = json.loads(fake.service_account.key_file.read_text())
    key_file["private_key"] = stranger_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    (tmp_path / "forged.json").write_text(json.dumps(key_file))
    with pytest.raises(RefreshError, match="invalid_grant"):
        fetch_access_token(tmp_path / "forged.json")


def test_rest_needs_a_valid_bearer_token_with_the_wallet_scope(
    fake: RunningFakeGoogle, control: FakeGoogleControl
) -> None:
    url = f"{fake.base_url}/walletobjects/v1/loyaltyClass/{CLASS_ID}"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert google_error(missing)[1] == "UNAUTHENTICATED"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    bad = requests.get(url, headers={"Authorization": "Bearer ya29.made-up"}, timeout=5)
    assert google_error(bad) == (401, "UNAUTHENTICATED", "authError")
    other_scope = fetch_access_token(
        fake.service_account.key_file, ["https://www.googleapis.com/auth/cloud-platform"]
    )
    narrow = requests.get(url, headers={"Authorization": f"Bearer {other_scope}"}, timeout=5)
    assert google_error(narrow) == (403, "PERMISSION_DENIED", "insufficientPermissions")
    assert control.counters()["unauthenticated"] == 2


def test_tokens_expire_after_an_hour_on_the_fakes_clock(
    fake: RunningFakeGoogle, control: FakeGoogleControl
) -> None:
    token = fetch_access_token(fake.service_account.key_file)
    url = f"{fake.base_url}/walletobjects/v1/loyaltyClass/{CLASS_ID}"
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 404
    control.advance_clock(3600)
    assert requests.get(url, headers=headers, timeout=5).status_code == 401


# -- REST -----------------------------------------------------------------------------------


def test_insert_get_and_conflicts(api: Api, control: FakeGoogleControl) -> None:
    api.loyalty_class()
    again = api.call("POST", "/loyaltyClass", {"id": CLASS_ID})
    assert google_error(again) == (409, "ALREADY_EXISTS", "duplicate")
    got = api.call("GET", f"/loyaltyClass/{CLASS_ID}")
    assert got.json() == {"id": CLASS_ID, "issuerName": "Demo"}
    missing = api.call("GET", f"/loyaltyObject/{ISSUER_ID}.nobody")
    assert google_error(missing) == (404, "NOT_FOUND", "resourceNotFound")
    wrong_kind = api.call("GET", f"/offerClass/{CLASS_ID}")
    assert wrong_kind.status_code == 404
    assert list(control.state()["classes"]) == [CLASS_ID]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/loyaltyObject", {"classId": CLASS_ID}),  # no id
        ("/loyaltyObject", {"id": "no-issuer", "classId": CLASS_ID}),
        ("/loyaltyObject", {"id": f"{ISSUER_ID}.bad/slash", "classId": CLASS_ID}),
        ("/loyaltyObject", {"id": OBJECT_ID}),  # no classId
        ("/loyaltyObject", {"id": OBJECT_ID, "classId": f"{ISSUER_ID}.no-such-class"}),
        ("/loyaltyObject", {"id": f"{OTHER_ISSUER_ID}.x", "classId": CLASS_ID}),
        ("/giftCardObject", {"id": OBJECT_ID, "classId": CLASS_ID}),  # a loyalty class
        ("/loyaltyObject", [1, 2]),
    ],
)
def test_invalid_inserts_are_400(api: Api, path: str, body: Any) -> None:
    api.loyalty_class()
    assert google_error(api.call("POST", path, body)) == (400, "INVALID_ARGUMENT", "invalid")


def test_non_json_and_mismatched_ids_are_400(api: Api) -> None:
    api.loyalty_object()
    raw = api.session.post(f"{api.base}/loyaltyObject", data=b"{nope", timeout=5)
    assert google_error(raw)[:2] == (400, "INVALID_ARGUMENT")
    other = {"id": f"{ISSUER_ID}.someone-else"}
    assert api.call("PATCH", f"/loyaltyObject/{OBJECT_ID}", other).status_code == 400
    assert api.call("PUT", f"/loyaltyObject/{OBJECT_ID}", other).status_code == 400


def test_patch_merges_top_level_fields_and_put_replaces(
    api: Api, control: FakeGoogleControl
) -> None:
    api.loyalty_object()
    patch = {"loyaltyPoints": {"balance": {"int": 7}}, "state": "ACTIVE"}
    patched = api.call("PATCH", f"/loyaltyObject/{OBJECT_ID}", patch).json()
    assert patched == {"id": OBJECT_ID, "classId": CLASS_ID, **patch}
    second = {"loyaltyPoints": {"label": "Points"}}
    merged = api.call("PATCH", f"/loyaltyObject/{OBJECT_ID}", second).json()
    assert merged["loyaltyPoints"] == {"label": "Points"}  # replaced, not deep-merged
    assert merged["state"] == "ACTIVE"
    put = api.call("PUT", f"/loyaltyObject/{OBJECT_ID}", {"classId": CLASS_ID, "state": "EXPIRED"})
    assert put.json() == {"id": OBJECT_ID, "classId": CLASS_ID, "state": "EXPIRED"}
    entry = control.object(OBJECT_ID)
    assert entry is not None
    assert (entry["patch_count"], entry["put_count"]) == (2, 1)
    assert entry["resource"]["state"] == "EXPIRED"
    assert api.call("PATCH", f"/loyaltyObject/{ISSUER_ID}.nobody", patch).status_code == 404


def test_a_fourth_notifying_message_in_24_hours_is_refused(
    api: Api, control: FakeGoogleControl, fake: RunningFakeGoogle
) -> None:
    api.loyalty_object()
    for _ in range(3):
        added = api.add_message("TEXT_AND_NOTIFY")
        assert added.status_code == 200, added.text
    assert len(added.json()["resource"]["messages"]) == 3
    refused = api.add_message("TEXT_AND_NOTIFY")
    assert google_error(refused) == (429, "RESOURCE_EXHAUSTED", "quotaExceeded")
    assert "3" in refused.json()["error"]["message"]
    assert api.add_message("TEXT").status_code == 200  # plain messages are not limited
    state = control.state(include_log=False)
    entry = state["objects"][OBJECT_ID]
    assert entry["notifying_messages"] == 3
    assert [m["messageType"] for m in entry["messages"]] == ["TEXT_AND_NOTIFY"] * 3 + ["TEXT"]
    assert state["counters"]["notification_quota_refusals"] == 1
    assert state["counters"]["rate_limited"] == 0
    control.advance_clock(24 * 3600 + 1)  # a day later the budget is back...
    assert api.add_message("TEXT_AND_NOTIFY").status_code == 401  # ...and the token expired
    api.session.headers["Authorization"] = (
        f"Bearer {fetch_access_token(fake.service_account.key_file)}"
    )
    assert api.add_message("TEXT_AND_NOTIFY").status_code == 200
    assert api.add_message("TEXT_AND_NOTIFY", f"{ISSUER_ID}.nobody").status_code == 404


def test_concurrent_notifying_messages_never_exceed_the_limit(
    api: Api, control: FakeGoogleControl
) -> None:
    api.loyalty_object()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda _: api.add_message("TEXT_AND_NOTIFY").status_code, range(8))
        )
    assert sorted(statuses) == [200] * 3 + [429] * 5


def test_the_per_issuer_rate_quota(api: Api, control: FakeGoogleControl) -> None:
    control.configure(quota_rps=5)
    path = f"/loyaltyClass/{CLASS_ID}"  # 404s count against the quota too
    statuses = [api.call("GET", path).status_code for _ in range(8)]
    assert statuses == [404] * 5 + [429] * 3
    refused = api.call("GET", path)
    assert google_error(refused) == (429, "RESOURCE_EXHAUSTED", "rateLimitExceeded")
    other = api.call("GET", f"/loyaltyClass/{OTHER_ISSUER_ID}.other")
    assert other.status_code == 404  # each issuer has its own quota
    state = control.state(include_log=False)
    assert state["issuers"][ISSUER_ID] == {"requests": 9, "max_window": 9, "rate_limited": 4}
    assert state["counters"]["rate_limited"] == 4
    assert control.max_window(OTHER_ISSUER_ID) == 1
    log = control.state()["log"]
    assert [entry["status"] for entry in log] == [404] * 5 + [429] * 4 + [404]
    assert log[0]["issuer"] == ISSUER_ID


def test_injected_failures(api: Api, control: FakeGoogleControl, fake: RunningFakeGoogle) -> None:
    api.loyalty_class()
    control.fail_next("loyaltyClass", status=503, count=2)
    control.fail_next("/token", status=500)
    path = f"/loyaltyClass/{CLASS_ID}"
    assert google_error(api.call("GET", path)) == (503, "UNAVAILABLE", "backendError")
    assert api.call("GET", path).status_code == 503
    assert api.call("GET", path).status_code == 200
    assert exchange(fake, assertion(fake)).status_code == 500
    assert exchange(fake, assertion(fake)).status_code == 200
    assert control.counters()["injected_failures"] == 3
    control.configure(fail_next=[{"path_contains": "addMessage", "status": 429, "method": "POST"}])
    assert control.state()["config"]["fail_next"][0]["remaining"] == 1


def test_reset_forgets_resources_and_counters_but_not_tokens(
    api: Api, control: FakeGoogleControl
) -> None:
    api.loyalty_object()
    control.configure(quota_rps=1, notification_limit=0)
    control.reset()
    state = control.state()
    assert state["classes"] == state["objects"] == {}
    assert set(state["counters"].values()) == {0}
    assert state["log"] == []
    assert state["config"]["quota_rps"] == 20
    assert state["config"]["notification_limit"] == 3
    assert api.call("GET", f"/loyaltyClass/{CLASS_ID}").status_code == 404  # token still good


def test_issuer_permissions(api: Api, control: FakeGoogleControl, fake: RunningFakeGoogle) -> None:
    rival = fake.service_accounts[1].client_email
    control.configure(issuer_accounts={ISSUER_ID: [rival]})
    refused = api.call("POST", "/loyaltyClass", {"id": CLASS_ID})
    assert google_error(refused) == (403, "PERMISSION_DENIED", "forbidden")


def test_requests_from_many_threads_are_all_counted(api: Api, control: FakeGoogleControl) -> None:
    control.configure(quota_rps=0)

    def insert(client: int) -> int:
        """20 inserts on one kept-alive connection; the worst status."""
        with requests.Session() as session:
            session.headers.update(api.session.headers)
            bodies = ({"id": f"{ISSUER_ID}.class-{client}-{n}"} for n in range(20))
            url = f"{api.base}/genericClass"
            return max(session.post(url, json=body, timeout=5).status_code for body in bodies)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(insert, range(8)))
    assert statuses == [200] * 8
    state = control.state(include_log=False)
    assert len(state["classes"]) == 8 * 20
    assert state["issuers"][ISSUER_ID]["requests"] == 8 * 20


# -- callbacks and service account certificates ---------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_signed_callbacks_verify_against_the_published_root_keys(
    fake: RunningFakeGoogle, control: FakeGoogleControl
) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/callbacks"
    try:
        root_keys = parse_root_keys(requests.get(fake.keys_url, timeout=5).json())
        sent = control.send_callback(url, class_id=CLASS_ID, object_id=OBJECT_ID, nonce="n-1")
        assert (sent["status"], sent["body"], sent["nonce"]) == (200, "ok", "n-1")
        now_ms = int(time.time() * 1000)
        message = verify_callback(
            _Receiver.bodies[-1], root_keys=root_keys, recipient_id=ISSUER_ID, now_ms=now_ms
        )
        assert (message.object_id, message.event_type, message.nonce) == (OBJECT_ID, "save", "n-1")
        control.send_callback(url, class_id=CLASS_ID, object_id=OBJECT_ID, tamper="signature")
        with pytest.raises(CallbackRejected):
            verify_callback(
                _Receiver.bodies[-1], root_keys=root_keys, recipient_id=ISSUER_ID, now_ms=now_ms
            )
        unreachable = control.send_callback(
            "http://127.0.0.1:9/nowhere", class_id=CLASS_ID, object_id=OBJECT_ID, event_type="del"
        )
        assert unreachable["status"] == 0
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_the_certificate_verifies_jwts_the_service_account_signs(fake: RunningFakeGoogle) -> None:
    credentials = credentials_for(fake.service_account.key_file)
    now = int(time.time())
    claims = {"iss": credentials.service_account_email, "aud": "google", "iat": now}
    token = google.auth.jwt.encode(credentials.signer, {**claims, "exp": now + 60})
    certs = certificates_by_key_id(*fake.service_accounts)
    decoded = google.auth.jwt.decode(token, certs=certs, audience="google")
    assert decoded["iss"] == fake.service_account.client_email


# -- the command line -----------------------------------------------------------------------


def test_the_command_line_prints_a_ready_line_and_serves(tmp_path: Path) -> None:
    fake = start_fake_google(tmp_path, dict(os.environ), quota_rps=7, notification_limit=1)
    try:
        token = fetch_access_token(fake.service_account.key_file)
        url = f"{fake.base_url}/walletobjects/v1/loyaltyClass"
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.post(url, json={"id": CLASS_ID}, headers=headers, timeout=5).ok
        state = fake.control.state()
        assert state["config"]["quota_rps"] == 7
        assert state["config"]["notification_limit"] == 1
        assert state["service_accounts"] == [fake.service_account.client_email]
        assert fake.token_uri == fake.base_url + "/token"
    finally:
        fake.stop()
