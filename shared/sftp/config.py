"""A tenant's SFTP drop, from the `[sftp]` table of its tenant.toml:

    [sftp]
    authorized_keys = ["ssh-ed25519 AAAAC3Nza… ci@warehouse"]  # OpenSSH public key lines
    # password_env = "DEMO_SFTP_PASSWORD"  # optional: passwords are off unless named here
    max_file_bytes = 8388608      # a larger upload is rejected (default: 8 MiB)
    max_rows = 100000             # a file with more rows is rejected
    max_files_per_day = 200       # uploads taken in any 24 hours; the next ones are rejected

The login name is the tenant id. Like API keys, the password itself is never in the file,
only the name of the variable that holds it. No `[sftp]` table: the tenant has no drop.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.tenancy.config_tables import describe

DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_FILES_PER_DAY = 200
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
_RSA = "ssh-rsa"


class SftpConfigError(ValueError):
    """The `[sftp]` table is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class SftpConfig:
    authorized_keys: tuple[str, ...]  # "<type> <base64>", the comment dropped
    password_env: str | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_files_per_day: int = DEFAULT_MAX_FILES_PER_DAY

    def password(self, environ: Mapping[str, str] = os.environ) -> str | None:
        """The password when passwords are on and the variable is set, else None."""
        if self.password_env is None:
            return None
        return environ.get(self.password_env) or None


def _key_line(value: str) -> None:
    parts = value.split()
    if len(parts) < 2 or parts[0] not in (*_KEY_TYPES, _RSA):
        raise ValidationError(
            "must be an OpenSSH public key line: '<type> <base64> [comment]', type one of "
            + ", ".join((*_KEY_TYPES, _RSA))
        )
    if _blob_type(parts[1]) != parts[0]:
        raise ValidationError(f"is not a valid {parts[0]} public key")


def _blob_type(text: str) -> str | None:
    """The key type a public key blob names in its first field (RFC 4253 §6.6: a uint32
    length, then the name), or None when it is not one. The SFTP server parses the keys in
    full; this keeps a pasted-wrong key from loading without importing an SSH library in
    every process that loads tenants."""
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(blob) < 4:
        return None
    length = int.from_bytes(blob[:4], "big")
    if length > 64 or len(blob) < 4 + length:
        return None
    return blob[4 : 4 + length].decode("ascii", "replace")


class _SftpSchema(Schema):
    class Meta:
        unknown = RAISE

    authorized_keys = fields.List(
        fields.String(validate=_key_line), required=True, validate=validate.Length(min=1)
    )
    password_env = fields.String(
        validate=validate.Regexp(r"^[A-Z][A-Z0-9_]{0,63}$"), load_default=None
    )
    max_file_bytes = fields.Integer(
        strict=True, validate=validate.Range(1, 1024**3), load_default=DEFAULT_MAX_FILE_BYTES
    )
    max_rows = fields.Integer(
        strict=True, validate=validate.Range(1, 1_000_000), load_default=DEFAULT_MAX_ROWS
    )
    max_files_per_day = fields.Integer(
        strict=True, validate=validate.Range(1, 100_000), load_default=DEFAULT_MAX_FILES_PER_DAY
    )


def parse_sftp(entry: Any, source: str) -> SftpConfig | None:
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise SftpConfigError(f"{source}: sftp: must be a table ([sftp])")
    try:
        data: dict[str, Any] = _SftpSchema().load(entry)
    except ValidationError as exc:
        raise SftpConfigError(f"{source}: sftp.{describe(exc.messages_dict)}") from exc
    return SftpConfig(
        authorized_keys=tuple(" ".join(line.split()[:2]) for line in data["authorized_keys"]),
        password_env=data["password_env"],
        max_file_bytes=data["max_file_bytes"],
        max_rows=data["max_rows"],
        max_files_per_day=data["max_files_per_day"],
    )
