"""Helpers for the Apple packaging tests: independent hashing, PNG generation, openssl CLI."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

OPENSSL = shutil.which("openssl")


def sha1(data: bytes) -> str:
    """Independent SHA-1 to check the manifest against (Apple's format mandates SHA-1)."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def make_png(width: int, height: int) -> bytes:
    """A valid RGB PNG with a little texture, built with zlib + struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(width * 3)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def openssl_verify(
    signature: Path, content: Path, ca_file: Path
) -> subprocess.CompletedProcess[str]:
    """Verify a detached DER signature trusting `ca_file` as the root of the chain.

    -partial_chain lets a non-self-signed CA (the real Apple WWDR intermediate) be the trust
    anchor; -purpose any because Pass Type ID certificates carry no S/MIME key usage."""
    assert OPENSSL
    return subprocess.run(
        [
            OPENSSL, "cms", "-verify", "-binary", "-inform", "DER",
            "-in", str(signature), "-content", str(content),
            "-CAfile", str(ca_file), "-partial_chain", "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl command line not installed")
