"""Google Wallet pieces for the tests: throwaway service accounts, the fake Google server
(as its own process, or in this one), and access tokens obtained from it with google-auth."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from dev.fake_google import FakeGoogleControl, FakeGoogleServer
from dev.fake_google.control import KEYS_PATH
from dev.fake_google.oauth import WALLET_SCOPE
from dev.fake_google.service_account import ServiceAccountFiles, write_service_account
from tests.support.processes import ManagedProcess

# Issuer ids are numbers Google assigns; these are shaped like them.
ISSUER_ID = "3388000000022000001"
OTHER_ISSUER_ID = "3388000000022000002"
DEFAULT_ACCOUNTS = ("passwire-tests",)
READY_PATTERN = r'(\{"event": "ready", "service": "fake-google".*\})'


def service_account_email(name: str) -> str:
    return f"{name}@passwire-dev.iam.gserviceaccount.com"


def write_service_accounts(
    directory: Path, names: Sequence[str], token_uri: str
) -> tuple[ServiceAccountFiles, ...]:
    """``<name>.json`` key files (and ``<name>-cert.pem``) whose token_uri is the fake's."""
    return tuple(
        write_service_account(
            directory, client_email=service_account_email(name), token_uri=token_uri
        )
        for name in names
    )


def _register(control: FakeGoogleControl, accounts: Sequence[ServiceAccountFiles]) -> None:
    for account in accounts:
        control.add_service_account(account.key_file)


@dataclass(frozen=True)
class FakeGoogleProcess:
    """``python -m dev.fake_google`` running, with its service accounts registered."""

    process: ManagedProcess
    base_url: str  # the API base URL: REST under {base_url}/walletobjects/v1
    token_uri: str
    service_accounts: tuple[ServiceAccountFiles, ...]

    @property
    def control(self) -> FakeGoogleControl:
        return FakeGoogleControl(self.base_url)

    @property
    def keys_url(self) -> str:  # where callback root keys are published
        return self.base_url + KEYS_PATH

    @property
    def service_account(self) -> ServiceAccountFiles:
        return self.service_accounts[0]

    def stop(self) -> None:
        self.process.stop()


def start_fake_google(
    directory: Path,
    env: dict[str, str],
    *,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    quota_rps: int = 20,
    notification_limit: int = 3,
    timeout: float = 30,
) -> FakeGoogleProcess:
    """Start the fake on a free loopback port, then write one service account key file per
    name in ``accounts`` into ``directory`` (token_uri pointing at the fake) and register
    them with it."""
    command = [
        sys.executable, "-m", "dev.fake_google", "--host", "127.0.0.1", "--port", "0",
        "--quota-rps", str(quota_rps), "--notification-limit", str(notification_limit),
    ]  # fmt: skip
    process = ManagedProcess("fake-google", command, env, READY_PATTERN)
    process.start(timeout)
    assert process.match is not None
    ready = json.loads(process.match.group(1))
    files = write_service_accounts(directory, accounts, ready["token_uri"])
    _register(FakeGoogleControl(ready["base_url"]), files)
    return FakeGoogleProcess(process, ready["base_url"], ready["token_uri"], files)


@dataclass(frozen=True)
class RunningFakeGoogle:
    """The fake in this process (fast to start; shares this process's GIL)."""

    server: FakeGoogleServer
    service_accounts: tuple[ServiceAccountFiles, ...]

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def token_uri(self) -> str:
        return self.server.token_uri

    @property
    def control(self) -> FakeGoogleControl:
        return FakeGoogleControl(self.base_url)

    @property
    def keys_url(self) -> str:
        return self.base_url + KEYS_PATH

    @property
    def service_account(self) -> ServiceAccountFiles:
        return self.service_accounts[0]


@contextmanager
def running_fake_google(
    directory: Path,
    *,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    quota_rps: int = 20,
    notification_limit: int = 3,
) -> Iterator[RunningFakeGoogle]:
    """The fake on a thread of this process, with fresh service accounts registered."""
    server = FakeGoogleServer(quota_rps=quota_rps, notification_limit=notification_limit)
    with server:
        files = write_service_accounts(directory, accounts, server.token_uri)
        for account in files:
            server.state.accounts.add_file(account.key_file)
        yield RunningFakeGoogle(server, files)


# -- a client's view ---------------------------------------------------------------------


def credentials_for(
    key_file: Path, scopes: Sequence[str] = (WALLET_SCOPE,)
) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_file(str(key_file), scopes=scopes)


def fetch_access_token(key_file: Path, scopes: Sequence[str] = (WALLET_SCOPE,)) -> str:
    """An access token from the token_uri of ``key_file``, the way google-auth gets it."""
    credentials = credentials_for(key_file, scopes)
    credentials.refresh(Request())
    return str(credentials.token)


def wallet_session(key_file: Path) -> requests.Session:
    """A requests session carrying a bearer token from the fake, as passwire's client sends
    it. (Not google-auth's AuthorizedSession: it also looks up the account's regional access
    boundary at iamcredentials.googleapis.com, which tests must not call.)"""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {fetch_access_token(key_file)}"
    return session


def certificates_by_key_id(*accounts: ServiceAccountFiles) -> dict[str, bytes]:
    """``{private_key_id: certificate PEM}``: the ``certs`` google.auth.jwt.decode takes to
    verify JWTs the accounts signed (Save to Google Wallet links)."""
    return {account.private_key_id: account.certificate.read_bytes() for account in accounts}
