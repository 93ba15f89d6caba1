"""The SFTP drop's pure parts: which client paths name what, the `[sftp]` table, the
duplicate key, and names that never overwrite an earlier file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.sftp.config import DEFAULT_MAX_FILE_BYTES, SftpConfigError, parse_sftp
from shared.sftp.folders import TenantFolders
from shared.sftp.intake import content_hash
from shared.sftp.paths import DropPath, PathRefused, is_partial, resolve
from shared.sftp.ssh import asyncssh

KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip() + " ci@x"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", DropPath(None, None)),
        (b"/", DropPath(None, None)),
        (b"..", DropPath(None, None)),
        (b"/../../..", DropPath(None, None)),
        (b"incoming", DropPath("incoming", None)),
        (b"/processed/", DropPath("processed", None)),
        (b"incoming/cards.csv", DropPath("incoming", "cards.csv")),
        (b"/incoming/../rejected/x.csv", DropPath("rejected", "x.csv")),
        (b"../../incoming/x.csv.part", DropPath("incoming", "x.csv.part")),
    ],
)
def test_paths_stay_inside_the_tenants_three_folders(raw: bytes, expected: DropPath) -> None:
    assert resolve(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"/etc/passwd",
        b"../../../etc/passwd",
        b"/incoming/../../other-tenant/incoming/x.csv",
        b"/incoming/sub/x.csv",
        b"/incoming/.upload-1234-x.csv",
        b"/incoming/a\x00b",
        b"/incoming/bad\xff",
        b"/incoming/" + b"x" * 201,
    ],
)
def test_paths_outside_or_hidden_are_refused(raw: bytes) -> None:
    with pytest.raises(PathRefused):
        resolve(raw)


def test_only_part_names_are_partial() -> None:
    assert is_partial("cards.csv.part")
    assert not is_partial("cards.csv")
    assert not is_partial("cards.part.csv")


def test_the_sftp_table_reads_keys_and_limits() -> None:
    config = parse_sftp({"authorized_keys": [KEY], "max_rows": 10}, "t.toml")
    assert config is not None
    assert config.authorized_keys == (" ".join(KEY.split()[:2]),)
    assert (config.max_rows, config.max_file_bytes) == (10, DEFAULT_MAX_FILE_BYTES)
    assert config.password() is None  # passwords off by default
    assert parse_sftp(None, "t.toml") is None


def test_a_password_is_read_from_its_variable_only_when_named() -> None:
    config = parse_sftp({"authorized_keys": [KEY], "password_env": "DROP_PW"}, "t.toml")
    assert config is not None
    assert config.password({"DROP_PW": "s3cret"}) == "s3cret"
    assert config.password({}) is None


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({}, "authorized_keys"),
        ({"authorized_keys": []}, "authorized_keys"),
        ({"authorized_keys": ["not a key"]}, "authorized_keys"),
        ({"authorized_keys": ["ssh-ed25519 AAAAnotbase64!"]}, "authorized_keys"),
        ({"authorized_keys": [KEY], "max_file_bytes": 0}, "max_file_bytes"),
        ({"authorized_keys": [KEY], "password": "x"}, "password"),
        ({"authorized_keys": [KEY], "password_env": "lower"}, "password_env"),
    ],
)
def test_a_bad_sftp_table_is_refused_naming_file_and_field(entry: dict, named: str) -> None:
    with pytest.raises(SftpConfigError, match=rf"t\.toml: sftp\.{named}"):
        parse_sftp(entry, "t.toml")


def test_the_duplicate_key_is_the_name_and_the_content() -> None:
    assert content_hash("a.csv", b"id\r\n1\r\n") == content_hash("a.csv", b"id\r\n1\r\n")
    assert content_hash("a.csv", b"id\r\n1\r\n") != content_hash("b.csv", b"id\r\n1\r\n")
    assert content_hash("a.csv", b"id\r\n1\r\n") != content_hash("a.csv", b"id\r\n2\r\n")
    # The separator keeps name and content apart.
    assert content_hash("a", b"b.csv") != content_hash("ab", b".csv")


def test_a_new_file_never_overwrites_an_earlier_one_of_the_same_name(tmp_path: Path) -> None:
    folders = TenantFolders(tmp_path / "demo")
    folders.ensure()
    assert folders.free_name("processed", "cards.csv") == "cards.csv"
    folders.write_atomically("processed", "cards.csv", b"x")
    assert folders.free_name("processed", "cards.csv") == "cards-2.csv"
    folders.write_atomically("rejected", "export.errors.txt", b"x")  # only its errors file left
    assert folders.free_name("rejected", "export") == "export-2"
    assert [p.name for p in (tmp_path / "demo" / "processed").iterdir()] == ["cards.csv"]


def test_a_tenant_toml_carries_its_sftp_table(tmp_path: Path) -> None:
    from shared.tenancy.tenants import TenantConfigError, load_tenant

    tenant = tmp_path / "acme"
    tenant.mkdir()
    (tenant / "tenant.toml").write_text(f'name = "Acme"\n[sftp]\nauthorized_keys = ["{KEY}"]\n')
    loaded = load_tenant(tenant)
    assert loaded.sftp is not None and loaded.sftp.max_files_per_day == 200
    (tenant / "tenant.toml").write_text('name = "Acme"\n[sftp]\nmax_rows = 5\n')
    with pytest.raises(TenantConfigError, match=r"sftp\.authorized_keys"):
        load_tenant(tenant)
    (tenant / "tenant.toml").write_text('name = "Acme"\n')
    assert load_tenant(tenant).sftp is None


def test_logins_hold_each_tenants_keys_and_only_named_passwords() -> None:
    from shared.sftp.config import SftpConfig
    from shared.sftp.server import Logins

    with_password = SftpConfig(authorized_keys=(KEY,), password_env="ACME_PW")
    logins = Logins.of(
        {"acme": with_password, "zeta": SftpConfig(authorized_keys=(KEY,))},
        {"ACME_PW": "pw", "ZETA_PW": "pw"},
    )
    assert logins.passwords == {"acme": "pw"}
    assert logins.keys["acme"] == logins.keys["zeta"] and len(logins.keys["acme"]) == 1
    broken = SftpConfig(authorized_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQ==",))
    with pytest.raises(ValueError, match=r"tenant acme: sftp\.authorized_keys\[0\]"):
        Logins.of({"acme": broken}, {})
