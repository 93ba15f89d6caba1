"""Apple Wallet pieces for the end-to-end tests: throwaway signing material shaped like
Apple's (root CA → WWDR intermediate → Pass Type ID certificate), the fake APNs process,
reading and verifying .pkpass files, and a simulated Wallet device."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from dev import testing_certs
from dev.fake_apns.certs import generate_test_pki
from tests.support.api_client import ApiClient
from tests.support.processes import ManagedProcess

PASS_TYPE_IDENTIFIER = testing_certs.DEMO_PASS_TYPE_IDENTIFIER  # "pass.com.example.demo"
PKPASS_TYPE = "application/vnd.apple.pkpass"
# Where the tests say the API is reachable from the outside; webServiceURL is built on it.
PUBLIC_URL = "https://wallet.passwire.test"
OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class ApplePki:
    """Signing material as PASSWIRE_DEV_CERTS_DIR holds it, plus the root above the WWDR."""

    directory: Path  # certificate.pem, key.pem, wwdr.pem: the tenant.toml file names
    certificate: Path
    private_key: Path
    wwdr: Path  # an intermediate, like Apple's WWDR
    root: Path  # self-signed, standing in for "Apple Root CA"
    client_ca_bundle: Path  # wwdr + root: what the fake APNs trusts for client certificates


def generate_apple_pki(directory: Path) -> ApplePki:
    """Root CA → WWDR intermediate → Pass Type ID certificate for pass.com.example.demo."""
    root_cert, root_key = testing_certs.make_wwdr(common_name="Test Apple Root CA")
    wwdr_cert, wwdr_key = testing_certs.make_wwdr(issuer=(root_cert, root_key))
    certificate, key = testing_certs.make_pass_certificate(wwdr_cert, wwdr_key)
    material = testing_certs.TestMaterial(wwdr_cert, wwdr_key, certificate, key)
    paths = testing_certs.write_pem_files(material, directory)
    root = directory / "root.pem"
    root.write_bytes(testing_certs.certificate_pem(root_cert))
    bundle = directory / "client-ca-bundle.pem"
    bundle.write_bytes(paths.wwdr.read_bytes() + root.read_bytes())
    return ApplePki(directory, paths.certificate, paths.private_key, paths.wwdr, root, bundle)


@dataclass(frozen=True)
class FakeApnsProcess:
    process: ManagedProcess
    host: str
    port: int
    control_url: str
    server_ca: Path  # what the APNs client must trust for the fake server's certificate


def start_fake_apns(
    tls_dir: Path, client_ca: Path, env: dict[str, str], timeout: float = 30
) -> FakeApnsProcess:
    """`python -m dev.fake_apns` with a server certificate for 127.0.0.1, requiring
    client certificates issued under `client_ca`."""
    server_pki = generate_test_pki(tls_dir)
    command = [
        sys.executable, "-m", "dev.fake_apns",
        "--host", "127.0.0.1", "--port", "0",
        "--cert", str(server_pki.server_cert), "--key", str(server_pki.server_key),
        "--client-ca", str(client_ca),
    ]  # fmt: skip
    process = ManagedProcess("fake-apns", command, env, r"fake apns listening on (\S+):(\d+)")
    process.start(timeout)
    assert process.match is not None
    control = re.search(r"fake apns control on (http://\S+)", process.output())
    assert control is not None, process.output_tail()
    return FakeApnsProcess(
        process,
        process.match.group(1),
        int(process.match.group(2)),
        control.group(1),
        server_pki.server_ca,
    )


# -- the API, as a CRM would call it ---------------------------------------------------------


def create_pass(client: ApiClient, **body: Any) -> str:
    """Issue a loyalty pass, wait for its operation to complete; the pass id."""
    response = client.create_pass("loyalty", **body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    operation = client.wait_for_final(accepted["correlationId"])
    assert operation["status"] == "completed", operation
    return str(accepted["passId"])


def patch_pass(client: ApiClient, pass_id: str, body: Any) -> requests.Response:
    return client.session.patch(client.url(f"/passes/{pass_id}"), json=body, timeout=10)


def update_pass(client: ApiClient, pass_id: str, body: Any) -> dict[str, Any]:
    """PATCH the pass and wait for its operation to finish; the final operation."""
    response = patch_pass(client, pass_id, body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["passId"] == pass_id, accepted
    return client.wait_for_final(accepted["correlationId"])


def download_pkpass(client: ApiClient, pass_id: str) -> requests.Response:
    return client.session.get(
        client.url(f"/passes/{pass_id}"), params={"device": "apple"}, timeout=10
    )


# -- .pkpass files ---------------------------------------------------------------------------


def sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def unpack(pkpass: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def check_manifest(files: dict[str, bytes]) -> None:
    """manifest.json lists every other file but the signature, each with its SHA-1."""
    manifest = json.loads(files["manifest.json"])
    listed = set(files) - {"manifest.json", "signature"}
    assert set(manifest) == listed, sorted(set(manifest) ^ listed)
    for name, digest in manifest.items():
        assert digest == sha1(files[name]), f"manifest.json has a wrong SHA-1 for {name}"


def openssl_verify(
    signature: bytes, manifest: bytes, ca_file: Path, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """Verify the detached PKCS#7 signature of manifest.json as the OpenSSL command line
    does, trusting only `ca_file` (a self-signed root: no -partial_chain, so the signature
    must carry the WWDR intermediate). -purpose any: Pass Type ID certificates carry no
    S/MIME key usage."""
    assert OPENSSL, "the openssl command line is needed"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "signature").write_bytes(signature)
    (workdir / "manifest.json").write_bytes(manifest)
    return subprocess.run(
        [
            OPENSSL, "smime", "-verify", "-binary", "-inform", "DER",
            "-in", str(workdir / "signature"), "-content", str(workdir / "manifest.json"),
            "-CAfile", str(ca_file), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def header_value(pass_json: dict[str, Any], key: str) -> Any:
    """The value of a header field of any pass style (storeCard, generic, ...)."""
    for style in ("boardingPass", "coupon", "eventTicket", "generic", "storeCard"):
        for item in pass_json.get(style, {}).get("headerFields", []):
            if item["key"] == key:
                return item["value"]
    raise AssertionError(f"no header field {key!r} in pass.json")


# -- a Wallet device ---------------------------------------------------------------------------


def new_push_token() -> str:
    return secrets.token_hex(32)


@dataclass
class WalletDevice:
    """A device speaking Apple's PassKit web service protocol for one pass."""

    base_url: str  # the API root: the web service is at {base_url}/apple/{tenant}/v1
    serial: str
    authentication_token: str
    tenant: str = "demo"
    pass_type_identifier: str = PASS_TYPE_IDENTIFIER
    device_id: str = field(default_factory=lambda: secrets.token_hex(16))
    push_token: str = field(default_factory=new_push_token)

    @property
    def web_service(self) -> str:
        return f"{self.base_url}/apple/{self.tenant}/v1"

    def _registration_url(self) -> str:
        return (
            f"{self.web_service}/devices/{self.device_id}/registrations/"
            f"{self.pass_type_identifier}/{self.serial}"
        )

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"ApplePass {token or self.authentication_token}"}

    def register(self, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(
            self._registration_url(),
            json={"pushToken": self.push_token},
            headers=self.auth() if headers is None else headers,
            timeout=10,
        )

    def unregister(self) -> requests.Response:
        return requests.delete(self._registration_url(), headers=self.auth(), timeout=10)

    def updated_since(self, tag: str | None = None) -> requests.Response:
        url = (
            f"{self.web_service}/devices/{self.device_id}/registrations/{self.pass_type_identifier}"
        )
        params = None if tag is None else {"passesUpdatedSince": tag}
        return requests.get(url, params=params, timeout=10)

    def fetch(
        self, *, if_modified_since: str | None = None, headers: dict[str, str] | None = None
    ) -> requests.Response:
        sent = self.auth() if headers is None else dict(headers)
        if if_modified_since is not None:
            sent["If-Modified-Since"] = if_modified_since
        url = f"{self.web_service}/passes/{self.pass_type_identifier}/{self.serial}"
        return requests.get(url, headers=sent, timeout=10)


def pass_json_of(pkpass: requests.Response) -> dict[str, Any]:
    assert pkpass.status_code == 200, pkpass.text
    document: dict[str, Any] = json.loads(unpack(pkpass.content)["pass.json"])
    return document


def issue_apple_pass(client: ApiClient, base_url: str, points: int = 10) -> WalletDevice:
    """A new loyalty pass with `points`, and a (not yet registered) device holding it."""
    pass_id = create_pass(
        client,
        identifiers={"crm": f"C-{secrets.token_hex(4)}"},
        metadata={"store": "42"},
        additionalData={"points": points},
    )
    document = pass_json_of(download_pkpass(client, pass_id))
    return WalletDevice(base_url, pass_id, document["authenticationToken"])
