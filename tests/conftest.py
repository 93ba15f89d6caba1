"""Real components for the tests: redis-server, the MongoDB wire server (or MONGODB_URI),
the API on a real HTTP port, a Celery worker as a separate process, throwaway Apple signing
material (PASSWIRE_DEV_CERTS_DIR) and the fake APNs server the worker pushes to."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pymongo import MongoClient

from config.celery import QUEUES
from config.settings import CONFIG_DIR, Settings
from dev.fake_apns import FakeApnsControl
from dev.fake_google import FakeGoogleControl
from dev.smtp_sink import running_sink
from shared.infra.db import uri_with_database
from tests.support.api_client import ApiClient
from tests.support.apple import (
    PUBLIC_URL,
    ApplePki,
    FakeApnsProcess,
    generate_apple_pki,
    start_fake_apns,
)
from tests.support.bulletin import add_bulletin_pass_type
from tests.support.connectors import CONNECTOR_ENV, ToolReceiver, running_tool
from tests.support.crm import DEMO_PROVIDERS, RunningCrm, add_member_pass_type, running_crm
from tests.support.google import FakeGoogleProcess, start_fake_google
from tests.support.google_tenants import add_mini_google_pass_type, add_paced_google_issuer
from tests.support.http_server import serving
from tests.support.lifecycle import add_lifecycle_pass_types
from tests.support.processes import (
    ManagedProcess,
    free_port,
    mongo_wire_command,
    redis_command,
    worker_command,
)
from tests.support.smtp import TestSink
from tests.support.webhooks import (
    WEBHOOK_SECRET_ENV,
    WEBHOOK_TEST_ENV,
    Receiver,
    running_receiver,
)

DEMO_KEY = "demo-local-api-key"
RIVAL_KEY = "rival-test-api-key"
DEMO_HMAC_SECRET_ENV = "DEMO_TEST_HMAC_SECRET"
# Self-service issuing for the demo loyalty card: signed identifiers, or the allowlisted card.
DEMO_SELF_SERVICE = f"""
[self_service]
pass_types = ["loyalty"]
hmac_secret_env = "{DEMO_HMAC_SECRET_ENV}"
allowlist = {{ crm = ["C-ALLOWLISTED"] }}
"""

# No [smtp]: the tenant that sends no email (tests/api/test_email_pass.py).
RIVAL_TENANT = """
name = "Rival Burgers"

[[api_keys]]
name = "tests"
sha256 = "{sha}"

[jwt]
audience = "passwire-tests"
hs256_secret_env = "RIVAL_JWT_SECRET"
rs256_public_keys = ["jwt-public.pem"]

# Real events from the jobs reach the session's webhook receiver.
[[webhooks]]
id = "events"
url = "{webhook_url}/ok/rival-events"
events = ["pass.created", "pass.updated", "operation.completed"]
secret_env = "{secret_env}"
"""


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    port = free_port()
    server = ManagedProcess(
        "redis", redis_command(port), dict(os.environ), r"Ready to accept connections"
    )
    server.start()
    yield f"redis://127.0.0.1:{port}/0"
    server.stop()


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    database = f"passwire_test_{secrets.token_hex(4)}"
    external = os.environ.get("MONGODB_URI")
    if external:
        uri = uri_with_database(external, database)
        yield uri
        with MongoClient(uri) as client:
            client.drop_database(database)
        return
    server = ManagedProcess(
        "mongo-wire", mongo_wire_command(), dict(os.environ), r"listening on (mongodb://\S+)"
    )
    server.start()
    assert server.match is not None
    yield uri_with_database(server.match.group(1), database)
    server.stop()


def _write_jwt_key_pair(tenant_dir: Path) -> None:
    """The rival tenant's RS256 key: public half in its config, private half for the tests."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tenant_dir / "jwt-private.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tenant_dir / "jwt-public.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def fake_crm() -> Iterator[RunningCrm]:
    """The demo tenant's external data provider (tests/support/crm.py)."""
    with running_crm() as running:
        yield running


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[TestSink]:
    """A real SMTP server on loopback; the demo tenant's [smtp] port is
    $PASSWIRE_DEV_SMTP_PORT, set here before any process loads the tenants."""
    sink = TestSink()
    with running_sink(sink, port=free_port()) as port, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PASSWIRE_DEV_SMTP_PORT", str(port))
        yield sink


@pytest.fixture(scope="session")
def connector_tool() -> Iterator[ToolReceiver]:
    """The tool the demo's connectors call back (outbound), and the secrets they read: in the
    environment before any process loads the tenants."""
    with running_tool() as tool, pytest.MonkeyPatch.context() as patch:
        for name, value in CONNECTOR_ENV.items():
            patch.setenv(name, value)
        patch.setenv("HUBSPOT_OUTBOUND_URL", f"{tool.url}/hubspot")
        yield tool


@pytest.fixture(scope="session")
def tenants_dir(
    tmp_path_factory: pytest.TempPathFactory,
    webhook_receiver: Receiver,
    fake_crm: RunningCrm,
    smtp_sink: TestSink,
    connector_tool: ToolReceiver,
) -> Path:
    import hashlib

    root = tmp_path_factory.mktemp("tenants")
    shutil.copytree(CONFIG_DIR / "tenants" / "demo", root / "demo")
    with (root / "demo" / "tenant.toml").open("a") as demo_toml:
        demo_toml.write(DEMO_SELF_SERVICE)
        demo_toml.write(DEMO_PROVIDERS)
    add_member_pass_type(root / "demo")
    add_paced_google_issuer(root / "demo")
    add_mini_google_pass_type(root / "demo")
    add_lifecycle_pass_types(root / "demo")
    add_bulletin_pass_type(root / "demo")
    rival = root / "rival"
    (rival / "passtypes" / "coupon").mkdir(parents=True)
    _write_jwt_key_pair(rival)
    (rival / "tenant.toml").write_text(
        RIVAL_TENANT.format(
            sha=hashlib.sha256(RIVAL_KEY.encode()).hexdigest(),
            webhook_url=webhook_receiver.url,
            secret_env=WEBHOOK_SECRET_ENV,
        )
    )
    (rival / "passtypes" / "coupon" / "passtype.toml").write_text(
        'kind = "coupon"\ndescription = "Rival coupon"\n'
    )
    return root


@pytest.fixture(scope="session")
def apple_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplePki]:
    """Root CA → WWDR → pass certificate, generated once; PASSWIRE_DEV_CERTS_DIR names it for
    this process (the API app loads tenants with it) before any app or settings exist."""
    pki = generate_apple_pki(tmp_path_factory.mktemp("apple-certs"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PASSWIRE_DEV_CERTS_DIR", str(pki.directory))
        yield pki


@pytest.fixture(scope="session")
def fake_apns_server(
    apple_pki: ApplePki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FakeApnsProcess]:
    """The fake APNs as its own process, accepting client certificates issued by the WWDR."""
    server = start_fake_apns(
        tmp_path_factory.mktemp("fake-apns-tls"), apple_pki.client_ca_bundle, dict(os.environ)
    )
    yield server
    server.process.stop()


@pytest.fixture
def fake_apns(fake_apns_server: FakeApnsProcess) -> Iterator[FakeApnsControl]:
    """The fake APNs's control surface, with no pushes, faults or unregistered tokens."""
    control = FakeApnsControl(fake_apns_server.control_url)
    control.reset()
    yield control
    control.reset()


# The demo tenant's issuer reads `$PASSWIRE_DEV_CERTS_DIR/google-service-account.json`.
DEMO_GOOGLE_ACCOUNT = "google-service-account"
# Most tests should not wait on Google's real quota (tests/e2e/test_google_pacing.py does).
FAKE_GOOGLE_QUOTA_RPS = 5000


@pytest.fixture(scope="session")
def fake_google_server(apple_pki: ApplePki) -> Iterator[FakeGoogleProcess]:
    """The fake Google Wallet API (OAuth token endpoint, REST, quotas, signed callbacks) as
    its own process, with the demo issuer's service account registered."""
    server = start_fake_google(
        apple_pki.directory,
        dict(os.environ),
        accounts=(DEMO_GOOGLE_ACCOUNT,),
        quota_rps=FAKE_GOOGLE_QUOTA_RPS,
    )
    yield server
    server.stop()


@pytest.fixture
def fake_google(fake_google_server: FakeGoogleProcess) -> Iterator[FakeGoogleControl]:
    """The fake Google's control surface, with no classes, objects, quotas spent or faults
    (the accounts stay registered)."""
    control = fake_google_server.control
    control.reset()
    yield control
    control.reset()


@pytest.fixture(scope="session")
def settings(  # noqa: PLR0917 - pytest injects fixtures by name
    redis_url: str,
    mongodb_uri: str,
    tenants_dir: Path,
    apple_pki: ApplePki,
    fake_google_server: FakeGoogleProcess,
    fake_apns_server: FakeApnsProcess,
) -> Settings:
    # The API process pushes too, for `options.bypassQueue` updates.
    return Settings(
        apns_host=fake_apns_server.host,
        apns_port=fake_apns_server.port,
        apns_ca_file=str(fake_apns_server.server_ca),
        environment="test",
        mongodb_uri=mongodb_uri,
        redis_url=redis_url,
        broker_url=redis_url,
        tenants_dir=tenants_dir,
        log_level="INFO",
        public_base_url=PUBLIC_URL,
        google_api_base_url=fake_google_server.base_url,
        google_token_uri=fake_google_server.token_uri,
        google_callback_keys_url=fake_google_server.keys_url,
    )


@pytest.fixture(scope="session")
def stack_env(
    settings: Settings,
    apple_pki: ApplePki,
    fake_apns_server: FakeApnsProcess,
    fake_crm: RunningCrm,
    fake_google_server: FakeGoogleProcess,
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PASSWIRE_ENV="test",
        MONGODB_URI=settings.mongodb_uri,
        REDIS_URL=settings.redis_url,
        CELERY_BROKER_URL=settings.broker_url,
        PASSWIRE_TENANTS_DIR=str(settings.tenants_dir),
        PASSWIRE_PUBLIC_URL=settings.public_base_url,
        PASSWIRE_DEV_CERTS_DIR=str(apple_pki.directory),
        APNS_HOST=fake_apns_server.host,
        APNS_PORT=str(fake_apns_server.port),
        APNS_CA_FILE=str(fake_apns_server.server_ca),
        GOOGLE_WALLET_API_URL=fake_google_server.base_url,
        GOOGLE_TOKEN_URI=fake_google_server.token_uri,
        GOOGLE_CALLBACK_KEYS_URL=fake_google_server.keys_url,
        LOG_LEVEL="INFO",
        # Small campaign batches: tests/e2e/test_push_updates.py cancels between them.
        PASSWIRE_CAMPAIGN_BATCH_SIZE="100",
    )
    env.update(WEBHOOK_TEST_ENV)
    env.update(fake_crm.env)
    return env


@pytest.fixture(scope="session")
def db(settings: Settings) -> Any:
    from shared.infra.db import get_database

    return get_database(settings)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Any:
    from api.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def api_url(app: Any) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def worker(stack_env: dict[str, str]) -> Iterator[ManagedProcess]:
    process = ManagedProcess(
        "worker", worker_command(",".join(QUEUES), "e2e"), stack_env, r"\bready\."
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def demo(api_url: str) -> ApiClient:
    return ApiClient(api_url, "demo", DEMO_KEY)


@pytest.fixture
def rival(api_url: str) -> ApiClient:
    return ApiClient(api_url, "rival", RIVAL_KEY)
