"""A pass type certificate 10 days from its end, end to end: /readyz stays ready with a warning,
the beat check fires exactly one `certificate.expiring` webhook event (a second run fires
nothing), `passwire certs check` lists it; then new files replace it while the worker runs, and
the next pass the worker signs once the files check interval has passed (a rotation shows
within it, docs/operations.md) verifies with the new certificate (openssl), no restart.

A tenant of its own (its certificate files are replaced), with its own worker and Redis
database (its own queues), so the session's other tests never see the rotation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography import x509

from api.app import create_app
from config.celery import CHECK_CERTIFICATES, QUEUES
from config.settings import CONFIG_DIR, Settings
from dev import testing_certs
from shared.apple.identities import FILES_CHECK_INTERVAL_S
from shared.jobs import JobQueue
from tests.support.api_client import ApiClient
from tests.support.apple import OPENSSL, create_pass, download_pkpass, unpack
from tests.support.http_server import serving
from tests.support.processes import REPO_ROOT, ManagedProcess, wait_until, worker_command
from tests.support.webhooks import WEBHOOK_SECRET_ENV, Receiver

TENANT = "certs"
API_KEY = f"certs-{secrets.token_hex(16)}"
PTID = testing_certs.DEMO_PASS_TYPE_IDENTIFIER
EVENTS_PATH = "/ok/certificate-events"

TENANT_TOML = f"""
name = "Certificates"

[[api_keys]]
name = "tests"
sha256 = "{hashlib.sha256(API_KEY.encode()).hexdigest()}"

[[apple_certificates]]
pass_type_identifier = "{PTID}"
certificate = "signing/certificate.pem"
key = "signing/key.pem"
wwdr = "signing/wwdr.pem"

[[webhooks]]
id = "ops"
url = "{{receiver}}{EVENTS_PATH}"
events = ["certificate.expiring"]
secret_env = "{WEBHOOK_SECRET_ENV}"
"""


@dataclass(frozen=True)
class Pki:
    root: Path  # trust anchor for openssl
    wwdr: testing_certs.TestMaterial  # WWDR certificate and key, to issue pass certificates
    signing_dir: Path

    def write_pass_certificate(self, days: int) -> x509.Certificate:
        """New key and certificate for PTID ending in `days`, over the tenant's files."""
        certificate, key = testing_certs.make_pass_certificate(
            self.wwdr.wwdr_certificate,
            self.wwdr.wwdr_key,
            not_after=datetime.now(UTC) + timedelta(days=days),
        )
        material = dataclasses.replace(self.wwdr, certificate=certificate, private_key=key)
        testing_certs.write_pem_files(material, self.signing_dir)
        return certificate


@dataclass(frozen=True)
class CertsStack:
    pki: Pki
    settings: Settings
    env: dict[str, str]
    client: ApiClient
    worker: ManagedProcess
    jobs: JobQueue


def _tenants_dir(root: Path, receiver: Receiver) -> Path:
    tenant = root / TENANT
    shutil.copytree(CONFIG_DIR / "tenants" / "demo" / "passtypes" / "loyalty",
                    tenant / "passtypes" / "loyalty")  # fmt: skip
    # Apple only: no Google issuer in this tenant.
    shutil.rmtree(tenant / "passtypes" / "loyalty" / "google")
    passtype = tenant / "passtypes" / "loyalty" / "passtype.toml"
    passtype.write_text(passtype.read_text().split("# Issued by this Google")[0])
    (tenant / "tenant.toml").write_text(TENANT_TOML.format(receiver=receiver.url))
    return root


def _pki(directory: Path) -> Pki:
    root_cert, root_key = testing_certs.make_wwdr(common_name="Test Apple Root CA")
    wwdr_cert, wwdr_key = testing_certs.make_wwdr(issuer=(root_cert, root_key))
    root = directory / "root.pem"
    root.write_bytes(testing_certs.certificate_pem(root_cert))
    placeholder = testing_certs.TestMaterial(wwdr_cert, wwdr_key, wwdr_cert, wwdr_key)
    return Pki(root, placeholder, directory / "tenants" / TENANT / "signing")


@pytest.fixture(scope="module")
def certs_stack(
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    stack_env: dict[str, str],
    webhook_receiver: Receiver,
) -> Iterator[CertsStack]:
    base = tmp_path_factory.mktemp("certs")
    tenants_dir = _tenants_dir(base / "tenants", webhook_receiver)
    pki = _pki(base)
    pki.write_pass_certificate(days=10)
    # Queues of their own: the session's worker knows nothing of this tenant.
    redis_url = urlunsplit(urlsplit(settings.redis_url)._replace(path="/8"))
    own = dataclasses.replace(
        settings, tenants_dir=tenants_dir, redis_url=redis_url, broker_url=redis_url
    )
    env = {
        **stack_env,
        "PASSWIRE_TENANTS_DIR": str(tenants_dir),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
    }
    worker = ManagedProcess(
        "certs-worker", worker_command(",".join(QUEUES), "certs"), env, r"\bready\."
    )
    worker.start()
    jobs = JobQueue(own)
    with serving(create_app(own)) as url:
        yield CertsStack(pki, own, env, ApiClient(url, TENANT, API_KEY), worker, jobs)
    worker.stop()


def _signer_of(pkpass: bytes, ca_file: Path, workdir: Path) -> x509.Certificate:
    """Verify the .pkpass signature as `openssl smime -verify` does; the signing certificate."""
    assert OPENSSL, "the openssl command line is needed"
    files = unpack(pkpass)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "signature").write_bytes(files["signature"])
    (workdir / "manifest.json").write_bytes(files["manifest.json"])
    verified = subprocess.run(
        [
            OPENSSL, "smime", "-verify", "-binary", "-inform", "DER",
            "-in", str(workdir / "signature"), "-content", str(workdir / "manifest.json"),
            "-CAfile", str(ca_file), "-purpose", "any", "-out", "/dev/null",
            "-signer", str(workdir / "signer.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    return x509.load_pem_x509_certificate((workdir / "signer.pem").read_bytes())


def _check_runs(stack: CertsStack) -> list[str]:
    """The results the worker logged for the certificate check, in order."""
    return [
        line.rsplit(": ", 1)[-1].strip()
        for line in stack.worker.output().splitlines()
        if CHECK_CERTIFICATES in line and "succeeded in" in line
    ]


def _run_check(stack: CertsStack) -> str:
    before = len(_check_runs(stack))
    stack.jobs.enqueue(CHECK_CERTIFICATES)
    runs = wait_until(
        lambda: _check_runs(stack) if len(_check_runs(stack)) > before else None,
        30,
        what="the certificate check to run",
    )
    return str(runs[before])


def _events(receiver: Receiver) -> list[dict[str, Any]]:
    return [received.body for received in receiver.at(EVENTS_PATH) if received.verified]


def test_a_certificate_ending_in_10_days_warns_once_and_rotates_without_restart(
    certs_stack: CertsStack, webhook_receiver: Receiver, db: Any, tmp_path: Path
) -> None:
    stack = certs_stack
    old_certificate = x509.load_pem_x509_certificate(
        (stack.pki.signing_dir / "certificate.pem").read_bytes()
    )

    # Ready, with a warning naming the certificate and its end.
    ready = create_app(stack.settings).test_client().get("/readyz")
    assert ready.status_code == 200
    body = ready.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["apple_certificates"] == "warning"
    [warning] = body["warnings"]
    assert warning["check"] == "apple_certificates"
    assert f"{TENANT}: {PTID}: pass type certificate expires on" in warning["reason"]
    assert "(in 9.9 days)" in warning["reason"] or "(in 10.0 days)" in warning["reason"]

    # The beat check fires one event (the 30-day threshold); a second run fires nothing.
    assert _run_check(stack) == "1"
    wait_until(lambda: _events(webhook_receiver), 30, what="the certificate.expiring event")
    assert _run_check(stack) == "0"
    [event] = _events(webhook_receiver)
    assert event["type"] == "certificate.expiring" and event["tenantId"] == TENANT
    data = event["data"]
    assert data["passTypeIdentifier"] == PTID and data["certificate"] == "passType"
    assert data["thresholdDays"] == 30 and data["daysLeft"] in (9, 10)
    assert data["notAfter"] == old_certificate.not_valid_after_utc.isoformat()
    assert db.certificate_alerts.count_documents({"tenant": TENANT}) == 1

    # The operator's listing shows it, and says it needs attention (exit 1).
    listing = subprocess.run(
        [sys.executable, "-m", "shared.cli", "certs", "check"],
        cwd=REPO_ROOT, env=stack.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert listing.returncode == 1, listing.stderr
    [row] = [line for line in listing.stdout.splitlines() if "pass type certificate" in line]
    assert row.split()[:2] == [TENANT, PTID]
    assert old_certificate.not_valid_after_utc.isoformat() in row and row.endswith("EXPIRING")

    # A pass signed now verifies with the old certificate.
    first = create_pass(stack.client, identifiers={"crm": "C-1"}, additionalData={"points": 1})
    signer = _signer_of(
        download_pkpass(stack.client, first).content, stack.pki.root, tmp_path / "a"
    )
    assert signer == old_certificate

    # Rotation: new files at the same paths, same pass type identifier; the worker keeps running.
    worker_pid = stack.worker.process.pid if stack.worker.process else None
    new_certificate = stack.pki.write_pass_certificate(days=400)
    # The worker looks at the files at most once per interval: the promise is "within it".
    time.sleep(FILES_CHECK_INTERVAL_S)
    second = create_pass(stack.client, identifiers={"crm": "C-2"}, additionalData={"points": 2})
    signer = _signer_of(
        download_pkpass(stack.client, second).content, stack.pki.root, tmp_path / "b"
    )
    assert signer == new_certificate
    assert stack.worker.running and stack.worker.process and stack.worker.process.pid == worker_pid

    # The new certificate is far from its end: ready without warnings, and nothing fires.
    body = create_app(stack.settings).test_client().get("/readyz").get_json()
    assert body["checks"]["apple_certificates"] == "ok" and "warnings" not in body
    assert _run_check(stack) == "0"
    assert len(_events(webhook_receiver)) == 1
