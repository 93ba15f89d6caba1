"""asyncssh for the SFTP drop, imported here first with its DSA deprecation warnings hushed
(asyncssh still imports cryptography's DSA; passwire never accepts DSA keys, so the five
warning lines at every start would only be noise), and the host key it serves with."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

__all__ = ["asyncssh", "create_host_key"]


def create_host_key(path: Path) -> bool:
    """Write a new Ed25519 host key at `path` (mode 0600) unless one is there."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key.export_private_key())
    return True
