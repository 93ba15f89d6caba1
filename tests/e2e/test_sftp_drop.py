"""The SFTP drop end to end, with paramiko as the brand's client: the real SFTP server
process, the real worker, the MongoDB wire server and the fake APNs.

The server reads a copy of the session's tenants with an `[sftp]` table each (the demo's
key A, the rival's key B); the worker imports with the session's tenants, which are the same.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from dev.fake_apns import FakeApnsControl
from shared.sftp.ssh import asyncssh
from tests.e2e.test_imports import register_device
from tests.support.api_client import ApiClient
from tests.support.apple import create_pass
from tests.support.processes import ManagedProcess, free_port, wait_until

MAX_FILE_BYTES = 2048
RIVAL_PASSWORD = secrets.token_urlsafe(16)  # the rival turns passwords on; the demo does not
READY = r"sftp drop listening on \S+:(\d+)"


PRIVATE_KEYS: dict[str, str] = {}  # tenant → its private key, OpenSSH format


def _key_pair(tenant: str) -> tuple[paramiko.PKey, str]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = key.export_private_key().decode()
    PRIVATE_KEYS[tenant] = private
    public = key.export_public_key().decode().strip()
    return paramiko.Ed25519Key.from_private_key(io.StringIO(private)), public


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[paramiko.PKey, str]]:
    return {"demo": _key_pair("demo"), "rival": _key_pair("rival")}


class Drop:
    def __init__(self, process: ManagedProcess, port: int, data_dir: Path) -> None:
        self.process, self.port, self.data_dir = process, port, data_dir

    def restart(self, *, kill: bool = False, env: dict[str, str] | None = None) -> None:
        if kill:
            assert self.process.process is not None
            os.killpg(self.process.process.pid, signal.SIGKILL)
            self.process.process.wait(10)
        else:
            self.process.stop()
        if env is not None:
            self.process.env = env
        self.process.start()


@pytest.fixture(scope="module")
def drop(
    tmp_path_factory: pytest.TempPathFactory,
    tenants_dir: Path,
    stack_env: dict[str, str],
    keys: dict[str, tuple[paramiko.PKey, str]],
    worker: ManagedProcess,
) -> Iterator[Drop]:
    root = tmp_path_factory.mktemp("sftp")
    tenants = root / "tenants"
    shutil.copytree(tenants_dir, tenants)
    for tenant, (_, public) in keys.items():
        with (tenants / tenant / "tenant.toml").open("a") as toml:
            toml.write(
                f'\n[sftp]\nauthorized_keys = ["{public} {tenant}@tests"]\n'
                f"max_file_bytes = {MAX_FILE_BYTES}\n"
            )
            if tenant == "rival":
                toml.write('password_env = "RIVAL_SFTP_PASSWORD"\n')
    port = free_port()
    env = {
        **stack_env,
        "PASSWIRE_TENANTS_DIR": str(tenants),
        "PASSWIRE_SFTP_DATA_DIR": str(root / "data"),
        "PASSWIRE_SFTP_HOST_KEY": str(root / "host-key" / "ssh_host_ed25519_key"),
        "PASSWIRE_SFTP_PORT": str(port),
        "PASSWIRE_SFTP_POLL_S": "0.3",
        "RIVAL_SFTP_PASSWORD": RIVAL_PASSWORD,
        "DEMO_SFTP_PASSWORD": RIVAL_PASSWORD,  # named by no [sftp]: never a password
    }
    command = [sys.executable, "-m", "workers.sftp_server", "--create-host-key"]
    process = ManagedProcess("sftp", command, env, READY).start()
    yield Drop(process, port, root / "data")
    process.stop()


def connect(drop: Drop, user: str, key: paramiko.PKey) -> paramiko.SFTPClient:
    transport = paramiko.Transport(("127.0.0.1", drop.port))
    transport.connect(username=user, pkey=key)
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    return client


@pytest.fixture
def sftp_demo(drop: Drop, keys: dict[str, tuple[paramiko.PKey, str]]) -> Iterator[Any]:
    client = connect(drop, "demo", keys["demo"][0])
    yield client
    client.get_channel().get_transport().close()


def put(client: paramiko.SFTPClient, path: str, text: str) -> None:
    with client.open(path, "wb") as file:
        file.write(text.encode())


def read(client: paramiko.SFTPClient, path: str) -> str:
    with client.open(path, "rb") as file:
        return bytes(file.read()).decode()


def wait_for(client: paramiko.SFTPClient, path: str, timeout: float = 40) -> str:
    folder, _, name = path.rpartition("/")
    wait_until(lambda: name in client.listdir(folder), timeout, 0.2, what=path)
    return read(client, path)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), strict=True))


def as_cell(pass_id: str) -> str:
    return "'" + pass_id if pass_id.startswith("-") else pass_id


def test_an_upload_updates_and_pushes_the_passes_and_its_results_come_back(
    sftp_demo: Any, demo: ApiClient, db: Any, fake_apns: FakeApnsControl
) -> None:
    tag = secrets.token_hex(4)
    pass_id = create_pass(demo, identifiers={"crm": f"S-{tag}"}, additionalData={"points": 1})
    token = register_device(db, pass_id)
    name = f"cards-{tag}.csv"
    put(
        sftp_demo,
        f"/incoming/{name}",
        f"id.crm;additionalData.points\r\nS-{tag};77\r\nS-{tag}-x;1\r\n",
    )

    results = rows_of(wait_for(sftp_demo, f"/processed/{name}.results.csv"))
    assert results == [
        ["row", "passId", "status", "error"],
        ["2", as_cell(pass_id), "succeeded", ""],
        ["3", "", "failed", "no pass matches id.crm"],
    ]
    assert name in sftp_demo.listdir("/processed")
    assert name not in sftp_demo.listdir("/incoming")
    assert demo.get_pass(pass_id).json()["additionalData"]["points"] == 77
    assert [push["token"] for push in fake_apns.pushes()].count(token) == 1
    [upload] = db.sftp_uploads.find({"tenant": "demo", "name": name})
    operation = db.operations.find_one({"_id": upload["correlationId"]})
    assert (operation["kind"], operation["status"]) == ("import", "completed_with_errors")


def test_another_tenant_cannot_reach_a_tenants_folder(
    drop: Drop, keys: dict[str, tuple[paramiko.PKey, str]], sftp_demo: Any
) -> None:
    secret = f"mine-{secrets.token_hex(4)}.csv.part"
    put(sftp_demo, f"/incoming/{secret}", "id.crm;metadata.tier\r\n")
    # The rival's key does not open the demo's login.
    with pytest.raises(paramiko.AuthenticationException):
        connect(drop, "demo", keys["rival"][0])
    rival = connect(drop, "rival", keys["rival"][0])
    try:
        assert sorted(rival.listdir("/")) == ["incoming", "processed", "rejected"]
        assert secret not in rival.listdir("/incoming")
        for path in (f"../demo/incoming/{secret}", f"/demo/incoming/{secret}"):
            with pytest.raises(OSError):
                rival.stat(path)
            with pytest.raises(OSError):
                read(rival, path)
            with pytest.raises(OSError):
                put(rival, path, "id.crm;metadata.tier\r\nX;gold\r\n")
        with pytest.raises(OSError):
            rival.listdir("../demo")
    finally:
        rival.get_channel().get_transport().close()
    assert secret in sftp_demo.listdir("/incoming")


def test_escapes_are_refused(drop: Drop, sftp_demo: Any) -> None:
    # `..` stops at the tenant's root, as at a real root: it is the same three folders.
    assert sorted(sftp_demo.listdir("/../..")) == ["incoming", "processed", "rejected"]
    assert sftp_demo.normalize("../../incoming") == "/incoming"
    for path in ("/etc/passwd", "../../../etc/passwd", "/incoming/../../etc/passwd"):
        with pytest.raises(OSError):
            read(sftp_demo, path)
    with pytest.raises(OSError):
        put(sftp_demo, "/incoming/../../escape.csv", "id\r\n")
    with pytest.raises(OSError):
        put(sftp_demo, "/processed/sneaky.csv", "id\r\n")
    with pytest.raises(OSError):
        sftp_demo.symlink("/etc/passwd", "/incoming/link.csv")
    with pytest.raises(OSError):
        sftp_demo.mkdir("/incoming/sub")
    assert not (drop.data_dir / "escape.csv").exists()
    assert not (drop.data_dir.parent / "escape.csv").exists()


def test_a_part_file_is_never_imported_until_renamed(
    sftp_demo: Any, demo: ApiClient, db: Any
) -> None:
    tag = secrets.token_hex(4)
    pass_id = create_pass(demo, identifiers={"crm": f"P-{tag}"})
    name = f"nightly-{tag}.csv"
    put(sftp_demo, f"/incoming/{name}.part", f"id.crm;metadata.tier\r\nP-{tag};gold\r\n")
    time.sleep(2)  # several sweeps: none takes a .part file
    assert f"{name}.part" in sftp_demo.listdir("/incoming")
    assert db.sftp_uploads.count_documents({"name": {"$regex": f"^nightly-{tag}"}}) == 0
    assert "tier" not in demo.get_pass(pass_id).json()["metadata"]

    sftp_demo.rename(f"/incoming/{name}.part", f"/incoming/{name}")
    assert rows_of(wait_for(sftp_demo, f"/processed/{name}.results.csv"))[1][2] == "succeeded"
    assert demo.get_pass(pass_id).json()["metadata"]["tier"] == "gold"


def test_the_same_file_twice_is_imported_once(sftp_demo: Any, demo: ApiClient, db: Any) -> None:
    tag = secrets.token_hex(4)
    pass_id = create_pass(demo, identifiers={"crm": f"D-{tag}"}, additionalData={"points": 1})
    name, text = f"dup-{tag}.csv", f"id.crm;additionalData.points\r\nD-{tag};5\r\n"
    put(sftp_demo, f"/incoming/{name}", text)
    wait_for(sftp_demo, f"/processed/{name}.results.csv")
    version = db.passes.find_one({"_id": pass_id})["version"]

    put(sftp_demo, f"/incoming/{name}", text)
    errors = wait_for(sftp_demo, f"/rejected/{name}.errors.txt")
    assert "imported at" in errors and "upload it under another name" in errors
    assert name in sftp_demo.listdir("/rejected")
    assert db.sftp_uploads.count_documents({"tenant": "demo", "name": name}) == 1
    assert db.passes.find_one({"_id": pass_id})["version"] == version

    # Renamed on purpose: imported again.
    put(sftp_demo, f"/incoming/again-{name}", text)
    wait_for(sftp_demo, f"/processed/again-{name}.results.csv")
    assert db.sftp_uploads.count_documents({"tenant": "demo", "name": f"again-{name}"}) == 1


def test_a_malformed_file_is_rejected_naming_row_and_column(
    sftp_demo: Any, demo: ApiClient, db: Any
) -> None:
    tag = secrets.token_hex(4)
    pass_id = create_pass(demo, identifiers={"crm": f"M-{tag}"})
    version = db.passes.find_one({"_id": pass_id})["version"]
    put(
        sftp_demo,
        f"/incoming/bad-{tag}.csv",
        f"id.crm;metadata.tier;colour\r\nM-{tag};gold;red\r\n",
    )
    errors = wait_for(sftp_demo, f"/rejected/bad-{tag}.csv.errors.txt")
    assert "row 1, column 3" in errors and "colour" in errors
    assert f"bad-{tag}.csv" in sftp_demo.listdir("/rejected")

    put(
        sftp_demo,
        f"/incoming/short-{tag}.csv",
        f"id.crm;metadata.tier\r\nM-{tag};gold\r\nM-{tag}\r\n",
    )
    assert "row 3: has 1 cells; the header has 2" in wait_for(
        sftp_demo, f"/rejected/short-{tag}.csv.errors.txt"
    )
    assert db.passes.find_one({"_id": pass_id})["version"] == version  # nothing applied
    assert db.sftp_uploads.count_documents({"name": {"$regex": f"-{tag}.csv$"}}) == 0


def test_an_oversized_upload_is_refused_and_explained(sftp_demo: Any, db: Any) -> None:
    name = f"big-{secrets.token_hex(4)}.csv"
    text = "id.crm;metadata.tier\r\n" + "C-1;gold\r\n" * (MAX_FILE_BYTES // 10 + 50)
    with pytest.raises(OSError):
        put(sftp_demo, f"/incoming/{name}", text)
    errors = wait_for(sftp_demo, f"/rejected/{name}.errors.txt")
    assert f"limit of {MAX_FILE_BYTES} bytes" in errors
    assert name not in sftp_demo.listdir("/incoming")
    assert db.sftp_uploads.count_documents({"name": name}) == 0


def test_a_restart_mid_upload_never_imports_the_partial_file(
    drop: Drop, keys: dict[str, tuple[paramiko.PKey, str]], demo: ApiClient, db: Any
) -> None:
    tag = secrets.token_hex(4)
    pass_id = create_pass(demo, identifiers={"crm": f"R-{tag}"})
    client = connect(drop, "demo", keys["demo"][0])
    direct = client.open(f"/incoming/cut-{tag}.csv", "wb")
    direct.write(f"id.crm;metadata.tier\r\nR-{tag};gold\r\n".encode())
    direct.flush()
    part = client.open(f"/incoming/cut-{tag}.csv.part", "wb")
    part.write(f"id.crm;metadata.tier\r\nR-{tag};silver\r\n".encode())
    part.flush()
    assert f"cut-{tag}.csv" not in client.listdir("/incoming")  # not complete: not there
    drop.restart(kill=True)  # the server dies with both files open

    after = connect(drop, "demo", keys["demo"][0])
    try:
        time.sleep(2)  # several sweeps
        assert after.listdir("/incoming").count(f"cut-{tag}.csv") == 0
        assert f"cut-{tag}.csv.part" in after.listdir("/incoming")  # kept, for a resume
        assert f"cut-{tag}.csv" not in after.listdir("/processed")
        staged = [p.name for p in (drop.data_dir / "demo" / "incoming").iterdir()]
        assert not [name for name in staged if name.startswith(".")]  # leftovers removed

        # A client that hangs up mid-upload: its file is not complete either.
        lost = connect(drop, "demo", keys["demo"][0])
        cut = lost.open(f"/incoming/hung-up-{tag}.csv", "wb")
        cut.write(f"id.crm;metadata.tier\r\nR-{tag};bronze\r\n".encode())
        cut.flush()
        lost.get_channel().get_transport().close()
        time.sleep(2)
        assert f"hung-up-{tag}.csv" not in after.listdir("/incoming")
        assert db.sftp_uploads.count_documents({"name": {"$regex": f"-{tag}.csv"}}) == 0
        assert "tier" not in demo.get_pass(pass_id).json()["metadata"]
    finally:
        after.get_channel().get_transport().close()


def test_openssh_sftp_uploads_a_part_file_and_renames_it(
    drop: Drop,
    keys: dict[str, tuple[paramiko.PKey, str]],
    sftp_demo: Any,
    demo: ApiClient,
    tmp_path: Path,
) -> None:
    """Debian's OpenSSH client, in batch mode: `put` as `.part`, then `rename`."""
    tag = secrets.token_hex(4)
    pass_id = create_pass(demo, identifiers={"crm": f"O-{tag}"})
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(PRIVATE_KEYS["demo"])
    key_file.chmod(0o600)
    local = tmp_path / "export.csv"
    local.write_text(f"id.crm;metadata.tier\r\nO-{tag};platinum\r\n")
    batch = tmp_path / "batch"
    name = f"openssh-{tag}.csv"
    batch.write_text(
        f"cd incoming\nput {local} {name}.part\nrename {name}.part {name}\nls /processed\n"
    )
    sftp = shutil.which("sftp")
    assert sftp is not None, "OpenSSH's sftp client (Debian: openssh-client)"
    result = subprocess.run(
        [
            sftp, "-b", str(batch), "-i", str(key_file), "-P", str(drop.port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "demo@127.0.0.1",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert rows_of(wait_for(sftp_demo, f"/processed/{name}.results.csv"))[1][1:3] == [
        as_cell(pass_id),
        "succeeded",
    ]
    assert demo.get_pass(pass_id).json()["metadata"]["tier"] == "platinum"


def test_an_oversized_part_file_is_dropped_so_its_rename_imports_nothing(
    sftp_demo: Any, db: Any
) -> None:
    name = f"huge-{secrets.token_hex(4)}.csv"
    text = "id.crm;metadata.tier\r\n" + "C-1;gold\r\n" * (MAX_FILE_BYTES // 10 + 50)
    with pytest.raises(OSError):
        put(sftp_demo, f"/incoming/{name}.part", text)
    assert f"limit of {MAX_FILE_BYTES} bytes" in wait_for(sftp_demo, f"/rejected/{name}.errors.txt")
    with pytest.raises(OSError):
        sftp_demo.rename(f"/incoming/{name}.part", f"/incoming/{name}")
    assert db.sftp_uploads.count_documents({"name": name}) == 0


def test_an_import_whose_enqueue_failed_is_queued_once_the_broker_is_back(
    drop: Drop, keys: dict[str, tuple[paramiko.PKey, str]], demo: ApiClient, db: Any
) -> None:
    tag = secrets.token_hex(4)
    pass_id = create_pass(demo, identifiers={"crm": f"Q-{tag}"})
    good = dict(drop.process.env)
    drop.restart(env={**good, "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"})
    name = f"queued-{tag}.csv"
    try:
        client = connect(drop, "demo", keys["demo"][0])
        put(client, f"/incoming/{name}", f"id.crm;metadata.tier\r\nQ-{tag};gold\r\n")
        # Recorded before the broker was asked: the upload and its stored import wait.
        upload = wait_until(
            lambda: db.sftp_uploads.find_one({"name": name}), 30, 0.2, what="the upload"
        )
        assert upload["status"] == "received"
        assert db.operations.find_one({"_id": upload["correlationId"]})["status"] == "queued"
        assert name in client.listdir("/incoming")
        # A waiting file is never replaced under the import that read it.
        with pytest.raises(OSError):
            put(client, f"/incoming/{name}", f"id.crm;metadata.tier\r\nQ-{tag};silver\r\n")
        put(client, f"/incoming/{name}.part", f"id.crm;metadata.tier\r\nQ-{tag};silver\r\n")
        with pytest.raises(OSError):
            client.posix_rename(f"/incoming/{name}.part", f"/incoming/{name}")
        client.remove(f"/incoming/{name}.part")
        client.get_channel().get_transport().close()
    finally:
        drop.restart(env=good)
    after = connect(drop, "demo", keys["demo"][0])
    try:
        assert rows_of(wait_for(after, f"/processed/{name}.results.csv"))[1][2] == "succeeded"
    finally:
        after.get_channel().get_transport().close()
    assert demo.get_pass(pass_id).json()["metadata"]["tier"] == "gold"
    assert db.sftp_uploads.count_documents({"name": name}) == 1


def password_login(drop: Drop, user: str, password: str) -> paramiko.Transport:
    transport = paramiko.Transport(("127.0.0.1", drop.port))
    try:
        transport.connect(username=user, password=password)
    except Exception:
        transport.close()
        raise
    return transport


def test_passwords_are_off_unless_the_tenant_names_one(drop: Drop) -> None:
    transport = password_login(drop, "rival", RIVAL_PASSWORD)
    try:
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        assert sorted(client.listdir("/")) == ["incoming", "processed", "rejected"]
    finally:
        transport.close()
    for user, password in (("rival", "wrong"), ("demo", RIVAL_PASSWORD), ("nobody", "x")):
        with pytest.raises(paramiko.SSHException):  # AuthenticationException and kin
            password_login(drop, user, password)


def test_only_sftp_is_served(drop: Drop, keys: dict[str, tuple[paramiko.PKey, str]]) -> None:
    transport = paramiko.Transport(("127.0.0.1", drop.port))
    transport.connect(username="demo", pkey=keys["demo"][0])
    try:
        with pytest.raises(paramiko.SSHException):  # the request is refused, no shell
            transport.open_session().exec_command("cat /etc/passwd")
        with pytest.raises(paramiko.SSHException):
            transport.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 0))
    finally:
        transport.close()
