from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from shared.google.issuers import (
    GoogleCredentialError,
    GoogleIssuerRef,
    GoogleIssuerStore,
    load_service_account,
    origin_problem,
)
from tests.unit.google.helpers import (
    ISSUER,
    ec_pem,
    rsa_pem,
    service_account_info,
    write_service_account,
)


@pytest.fixture(scope="module")
def key_pem() -> str:
    return rsa_pem()


def store_for(tmp_path: Path, key: str = "key.json") -> GoogleIssuerStore:
    ref = GoogleIssuerRef(issuer_id=ISSUER, base_dir=tmp_path, service_account_key=key)
    return GoogleIssuerStore({ISSUER: ref})


def test_a_key_file_loads_once_relative_to_the_tenant_folder(tmp_path: Path, key_pem: str) -> None:
    write_service_account(tmp_path / "key.json", key_pem)
    store = store_for(tmp_path)
    issuer = store.get(ISSUER)
    account = issuer.service_account
    assert issuer.issuer_id == ISSUER
    assert account.client_email == "wallet@passwire-test.iam.gserviceaccount.com"
    assert account.private_key_id == "0123456789abcdef0123456789abcdef01234567"
    assert account.token_uri == "https://oauth2.googleapis.com/token"
    assert isinstance(account.private_key, rsa.RSAPrivateKey)
    assert account.private_key_pem == key_pem
    (tmp_path / "key.json").unlink()
    assert store.get(ISSUER) is issuer  # kept for the life of the process
    assert store.problems() == []


def test_the_info_is_what_google_auth_takes(tmp_path: Path, key_pem: str) -> None:
    write_service_account(tmp_path / "key.json", key_pem)
    account = store_for(tmp_path).get(ISSUER).service_account
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        account.info, scopes=["https://www.googleapis.com/auth/wallet_object.issuer"]
    )
    assert credentials.service_account_email == account.client_email
    assert credentials.signer.key_id == account.private_key_id


def test_secrets_stay_out_of_repr(tmp_path: Path, key_pem: str) -> None:
    write_service_account(tmp_path / "key.json", key_pem)
    issuer = store_for(tmp_path).get(ISSUER)
    assert "PRIVATE KEY" not in repr(issuer)
    assert "client_email='wallet@" in repr(issuer)


def test_paths_expand_environment_variables(
    tmp_path: Path, key_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    write_service_account(tmp_path / "secrets" / "key.json", key_pem)
    monkeypatch.setenv("TEST_GOOGLE_KEYS", str(tmp_path / "secrets"))
    store = store_for(tmp_path / "elsewhere", key="$TEST_GOOGLE_KEYS/key.json")
    assert store.get(ISSUER).service_account.client_email.startswith("wallet@")


def test_an_unset_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_GOOGLE_KEYS", raising=False)
    store = store_for(tmp_path, key="$TEST_GOOGLE_KEYS/key.json")
    assert store.problems() == [
        f"Google issuer {ISSUER}: service account key $TEST_GOOGLE_KEYS/key.json: names an "
        "environment variable that is not set"
    ]


def key_problem(tmp_path: Path, content: str) -> str:
    (tmp_path / "key.json").write_text(content)
    with pytest.raises(GoogleCredentialError) as info:
        store_for(tmp_path).get(ISSUER)
    message = str(info.value)
    assert message.startswith(f"service account key {tmp_path / 'key.json'}: ")
    return message.split(": ", 1)[1]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    assert store_for(tmp_path).problems() == [
        f"Google issuer {ISSUER}: service account key {tmp_path / 'key.json'}: file is missing"
    ]


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    assert key_problem(tmp_path, "-----BEGIN PRIVATE KEY-----\n") == (
        "is not JSON (line 1, column 1)"
    )


def test_a_key_that_is_not_a_service_account_is_refused(tmp_path: Path, key_pem: str) -> None:
    content = json.dumps(service_account_info(key_pem, type="authorized_user"))
    assert 'is not "service_account"' in key_problem(tmp_path, content)
    assert "is not a JSON object" in key_problem(tmp_path, "[]")


def test_missing_fields_are_listed(tmp_path: Path, key_pem: str) -> None:
    info = service_account_info(key_pem, client_email="", token_uri=7)
    del info["private_key_id"]
    assert key_problem(tmp_path, json.dumps(info)) == (
        "missing fields (or not text): client_email, private_key_id, token_uri"
    )


def test_an_unreadable_private_key_is_refused_without_quoting_it(tmp_path: Path) -> None:
    secret = (
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
    )
    problem = key_problem(tmp_path, json.dumps(service_account_info(secret)))
    assert problem == "private_key is not a readable, unencrypted PEM private key"


def test_a_key_that_is_not_rsa_is_refused(tmp_path: Path) -> None:
    problem = key_problem(tmp_path, json.dumps(service_account_info(ec_pem())))
    assert problem.startswith("private_key is not an RSA key")


def test_a_failed_load_is_retried_once_the_file_is_fixed(tmp_path: Path, key_pem: str) -> None:
    store = store_for(tmp_path)
    assert len(store.problems()) == 1
    write_service_account(tmp_path / "key.json", key_pem)
    assert store.problems() == []


def test_an_unknown_issuer_is_an_error_not_a_crash(tmp_path: Path) -> None:
    store = store_for(tmp_path)
    assert "1234" not in store
    assert store.issuer_ids() == (ISSUER,)
    with pytest.raises(GoogleCredentialError, match="Google issuer 1234 is not configured"):
        store.get("1234")
    assert store.ref(ISSUER).requests_per_second == 20


def test_load_service_account_reads_a_path(tmp_path: Path, key_pem: str) -> None:
    path = write_service_account(tmp_path / "key.json", key_pem)
    assert load_service_account(path).private_key.key_size == 2048


@pytest.mark.parametrize(
    "origin",
    [
        "https://www.example.com",
        "https://example.com:8443",
        "http://localhost:8000",
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
    ],
)
def test_good_origins(origin: str) -> None:
    assert origin_problem(origin) is None


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        ("http://example.com", "must be an https:// origin"),
        ("example.com", "must be an https:// origin"),
        ("https://", "must be an https:// origin"),
        ("https://example.com/", "must be an origin only"),
        ("https://example.com/save?x=1", "must be an origin only"),
        ("https://user@example.com", "must be an origin only"),
        ("https://[::1", "is not a URL origin"),
    ],
)
def test_bad_origins(origin: str, reason: str) -> None:
    problem = origin_problem(origin)
    assert problem is not None
    assert problem.startswith(reason)
