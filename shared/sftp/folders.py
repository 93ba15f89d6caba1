"""A tenant's drop on disk: `<PASSWIRE_SFTP_DATA_DIR>/<tenantId>/{incoming,processed,rejected}`.

Only the SFTP server process touches these folders (it writes the results too), so the
data directory needs to be on its host alone. Files are written to a hidden name first and
renamed into place, so a reader never sees half a file, and a crash leaves only hidden
leftovers, which the server removes when it starts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.sftp.paths import FOLDERS, INCOMING, PROCESSED, REJECTED, is_partial

STAGING_PREFIX: Final = ".upload-"  # a direct upload until it is closed
_TEMP_PREFIX: Final = ".tmp-"


@dataclass(frozen=True)
class TenantFolders:
    root: Path

    @classmethod
    def of(cls, data_dir: Path, tenant_id: str) -> TenantFolders:
        return cls(data_dir / tenant_id)

    def ensure(self) -> None:
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True, mode=0o750)

    def path(self, folder: str, name: str | None = None) -> Path:
        return self.root / folder if name is None else self.root / folder / name

    def staging(self, name: str) -> Path:
        return self.path(INCOMING, f"{STAGING_PREFIX}{secrets.token_hex(6)}-{name}")

    def complete_uploads(self) -> list[str]:
        """Names in incoming/ that are complete uploads (not `.part`, not hidden), oldest first."""
        found: list[tuple[float, str]] = []
        for entry in os.scandir(self.path(INCOMING)):
            if entry.name.startswith(".") or is_partial(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    found.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
            except FileNotFoundError:
                continue  # removed or taken meanwhile
        return [name for _, name in sorted(found)]

    def remove_leftovers(self) -> int:
        """Delete hidden files a stopped server left half-written; how many."""
        removed = 0
        for folder in FOLDERS:
            for entry in os.scandir(self.path(folder)):
                if entry.name.startswith((STAGING_PREFIX, _TEMP_PREFIX)):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def free_name(self, folder: str, name: str) -> str:
        """`name`, or `name` with `-2`, `-3`… before its extension when the folder has it:
        an earlier file of the same name there is never overwritten."""
        stem, dot, extension = name.rpartition(".")
        if not stem:
            stem, dot, extension = name, "", ""
        candidate, number = name, 1
        while self.path(folder, candidate).exists() or self._has_companion(folder, candidate):
            number += 1
            candidate = f"{stem}-{number}{dot}{extension}"
        return candidate

    def _has_companion(self, folder: str, name: str) -> bool:
        return (folder == PROCESSED and self.path(folder, results_name(name)).exists()) or (
            folder == REJECTED and self.path(folder, errors_name(name)).exists()
        )

    def write_atomically(self, folder: str, name: str, data: bytes) -> None:
        temporary = self.path(folder, f"{_TEMP_PREFIX}{secrets.token_hex(6)}")
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path(folder, name))


def results_name(name: str) -> str:
    return f"{name}.results.csv"


def errors_name(name: str) -> str:
    return f"{name}.errors.txt"
