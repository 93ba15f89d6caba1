"""The SFTP drop's protocol side, on asyncssh: who may log in, and what each SFTP request may
do in the tenant's virtual tree (shared/sftp/paths.py).

- Login: the user name is the tenant id; its `[sftp] authorized_keys` (and a password only
  when `password_env` names one). Nothing but the SFTP subsystem: no shell, no forwarding.
- Every path is resolved as text first; `map_path`, which asyncssh's defaults use, refuses
  everything, so no request this class does not handle reaches the disk. Files are opened
  with O_NOFOLLOW and must be regular files.
- Uploads go to incoming/ only. A `.part` name is written in place (and may be resumed); any
  other name is written to a hidden staging file and renamed into place when the client
  closes it, so a visible file in incoming/ is always complete. Renaming a `.part` file to
  another name completes it. A complete upload is handed to `DropService.submit`.
- A connection lost with files open is not a close: asyncssh closes the remaining handles
  and then calls `exit()` in one go; such closes are committed only on the next turn of the
  event loop, by which time `exit()` has marked them aborted. (A client's own close is
  answered before it can hang up, so its commit always runs first.)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import stat
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.sftp.config import SftpConfig
from shared.sftp.folders import TenantFolders
from shared.sftp.paths import (
    FOLDERS,
    INCOMING,
    PART_SUFFIX,
    DropPath,
    PathRefused,
    is_partial,
    resolve,
)
from shared.sftp.ssh import asyncssh

log = logging.getLogger(__name__)


class Submit:
    """What the server calls for a complete upload, and for an oversized one."""

    def submit(self, tenant_id: str, name: str) -> None:
        raise NotImplementedError

    def oversized(self, tenant_id: str, name: str) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Logins:
    """Each tenant's allowed public keys (their key blobs) and password, from [sftp]."""

    keys: Mapping[str, frozenset[bytes]]
    passwords: Mapping[str, str]

    @classmethod
    def of(cls, configs: Mapping[str, SftpConfig], environ: Mapping[str, str]) -> Logins:
        keys = {tenant: _key_blobs(tenant, cfg) for tenant, cfg in configs.items()}
        passwords = {
            tenant: password
            for tenant, cfg in configs.items()
            if (password := cfg.password(environ)) is not None
        }
        return cls(keys, passwords)


def _key_blobs(tenant: str, config: SftpConfig) -> frozenset[bytes]:
    blobs = set()
    for index, line in enumerate(config.authorized_keys):
        try:
            blobs.add(asyncssh.import_public_key(line).public_data)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ValueError(f"tenant {tenant}: sftp.authorized_keys[{index}]: {exc}") from None
    return frozenset(blobs)


class DropSSHServer(asyncssh.SSHServer):
    def __init__(self, logins: Logins) -> None:
        self._logins = logins

    def begin_auth(self, username: str) -> bool:
        return True  # always ask, so an unknown name learns nothing

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data in self._logins.keys.get(username, frozenset())

    def password_auth_supported(self) -> bool:
        return bool(self._logins.passwords)

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._logins.passwords.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


@dataclass(eq=False)
class _Handle:
    fd: int
    where: DropPath
    real: Path
    writable: bool
    staging: Path | None = None  # a direct upload, renamed into place when closed
    oversize: bool = False
    aborted: bool = False


# A complete file of that name is in /incoming: it is taken within moments.
_WAITING = "a file of this name is waiting in /incoming to be imported; try again in a moment"


def _refuse(exc: PathRefused) -> asyncssh.SFTPNoSuchFile:
    return asyncssh.SFTPNoSuchFile(str(exc))


class DropSftpServer(asyncssh.SFTPServer):
    def __init__(
        self,
        chan: asyncssh.SSHServerChannel[bytes],
        *,
        folders: TenantFolders,
        config: SftpConfig,
        submit: Submit,
    ) -> None:
        super().__init__(chan)
        self._tenant: str = chan.get_extra_info("username")
        self._folders = folders
        self._config = config
        self._submit = submit
        self._pending: set[_Handle] = set()
        folders.ensure()

    # Nothing reaches the disk through asyncssh's own path handling.
    def map_path(self, path: bytes) -> bytes:
        raise asyncssh.SFTPPermissionDenied("not supported")

    def _resolve(self, path: bytes) -> DropPath:
        try:
            return resolve(path)
        except PathRefused as exc:
            raise _refuse(exc) from None

    def _real(self, where: DropPath) -> Path:
        if where.folder is None:
            return self._folders.root
        return self._folders.path(where.folder, where.name)

    def realpath(self, path: bytes) -> bytes:
        return self._resolve(path).virtual.encode()

    def _stat(self, path: bytes) -> os.stat_result:
        where = self._resolve(path)
        try:
            result = os.lstat(self._real(where))
        except FileNotFoundError:
            raise asyncssh.SFTPNoSuchFile("no such file") from None
        if where.is_file and not stat.S_ISREG(result.st_mode):
            raise asyncssh.SFTPNoSuchFile("no such file")
        return result

    def stat(self, path: bytes) -> os.stat_result:
        return self._stat(path)

    def lstat(self, path: bytes) -> os.stat_result:
        return self._stat(path)

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        where = self._resolve(path)
        if where.is_file:
            raise asyncssh.SFTPFailure("not a folder")
        real = self._real(where)
        for dot in (b".", b".."):
            yield asyncssh.SFTPName(dot, attrs=asyncssh.SFTPAttrs.from_local(os.stat(real)))
        if where.folder is None:
            for folder in FOLDERS:
                attrs = asyncssh.SFTPAttrs.from_local(os.stat(self._folders.path(folder)))
                yield asyncssh.SFTPName(folder.encode(), attrs=attrs)
            return
        with os.scandir(real) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                attrs = asyncssh.SFTPAttrs.from_local(entry.stat(follow_symlinks=False))
                yield asyncssh.SFTPName(entry.name.encode(), attrs=attrs)

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> _Handle:
        where = self._resolve(path)
        if not where.is_file or where.name is None:
            raise asyncssh.SFTPPermissionDenied("not a file")
        if not pflags & (
            asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC
        ):
            return self._open_for_reading(where)
        if where.folder != INCOMING:
            raise asyncssh.SFTPPermissionDenied("only /incoming takes uploads")
        flags = os.O_NOFOLLOW | (os.O_RDWR if pflags & asyncssh.FXF_READ else os.O_WRONLY)
        if is_partial(where.name):
            flags |= os.O_CREAT if pflags & asyncssh.FXF_CREAT else 0
            flags |= (os.O_TRUNC if pflags & asyncssh.FXF_TRUNC else 0) | (
                os.O_EXCL if pflags & asyncssh.FXF_EXCL else 0
            )
            flags |= os.O_APPEND if pflags & asyncssh.FXF_APPEND else 0
            real, staging = self._real(where), None
        else:
            if self._real(where).exists():
                raise asyncssh.SFTPFailure(_WAITING)
            # Written aside and renamed into place when closed: never seen half-written.
            staging = self._folders.staging(where.name)
            real, flags = staging, flags | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(real, flags, 0o640)
        except FileNotFoundError:
            raise asyncssh.SFTPNoSuchFile("no such file") from None
        except FileExistsError:
            raise asyncssh.SFTPFailure("file exists") from None
        return _Handle(fd, where, real, writable=True, staging=staging)

    def _open_for_reading(self, where: DropPath) -> _Handle:
        try:
            fd = os.open(self._real(where), os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, OSError):
            raise asyncssh.SFTPNoSuchFile("no such file") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise asyncssh.SFTPNoSuchFile("no such file")
        return _Handle(fd, where, self._real(where), writable=False)

    def open56(
        self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs
    ) -> Any:
        raise asyncssh.SFTPOpUnsupported("use SFTP version 3")

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        handle = self._handle(file_obj)
        return os.pread(handle.fd, size, offset)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        handle = self._handle(file_obj)
        if not handle.writable:
            raise asyncssh.SFTPPermissionDenied("opened for reading")
        limit = self._config.max_file_bytes
        if offset + len(data) > limit:
            if not handle.oversize and handle.staging is None and handle.where.name:
                # A .part file cut at the limit must never be renamed into an import.
                handle.real.unlink(missing_ok=True)
                self._submit.oversized(self._tenant, handle.where.name.removesuffix(PART_SUFFIX))
            handle.oversize = True
            raise asyncssh.SFTPFailure(
                f"the file is larger than this drop's limit of {limit} bytes"
            )
        return os.pwrite(handle.fd, data, offset)

    def fstat(self, file_obj: object) -> os.stat_result:
        return os.fstat(self._handle(file_obj).fd)

    def close(self, file_obj: object) -> None:
        handle = self._handle(file_obj)
        if handle.staging is not None:
            os.fsync(handle.fd)  # on disk before it is renamed into place and recorded
        os.close(handle.fd)
        if handle.staging is not None:
            self._pending.add(handle)
            asyncio.get_running_loop().call_soon(self._commit, handle)

    def _commit(self, handle: _Handle) -> None:
        self._pending.discard(handle)
        assert handle.staging is not None and handle.where.name is not None
        name = handle.where.name
        if handle.aborted or handle.oversize:
            handle.staging.unlink(missing_ok=True)
            if handle.oversize:
                self._submit.oversized(self._tenant, name)
            else:
                log.info("sftp upload %s of %s cut short: dropped", name, self._tenant)
            return
        try:
            # A link never replaces: the file being imported stays the one that was read.
            os.link(handle.staging, self._folders.path(INCOMING, name))
        except FileExistsError:
            log.warning("sftp upload %s of %s dropped: %s", name, self._tenant, _WAITING)
            return
        finally:
            handle.staging.unlink(missing_ok=True)
        self._submit.submit(self._tenant, name)

    def exit(self) -> None:
        # Handles closed by the connection's end, not by the client: never imported.
        for handle in self._pending:
            handle.aborted = True

    def remove(self, path: bytes) -> None:
        where = self._resolve(path)
        self._stat(path)
        if not where.is_file:
            raise asyncssh.SFTPPermissionDenied("not a file")
        os.unlink(self._real(where))

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._rename(oldpath, newpath, overwrite=False)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._rename(oldpath, newpath, overwrite=True)

    def _rename(self, oldpath: bytes, newpath: bytes, *, overwrite: bool) -> None:
        old, new = self._resolve(oldpath), self._resolve(newpath)
        if old.folder != INCOMING or new.folder != INCOMING or old.name is None or new.name is None:
            raise asyncssh.SFTPPermissionDenied("only a .part file in /incoming can be renamed")
        if not is_partial(old.name):
            raise asyncssh.SFTPPermissionDenied("only a .part file in /incoming can be renamed")
        self._stat(oldpath)
        target = self._real(new)
        if not is_partial(new.name):
            try:  # never over a file waiting to be imported, even with posix-rename
                os.link(self._real(old), target)
            except FileExistsError:
                raise asyncssh.SFTPFailure(_WAITING) from None
            os.unlink(self._real(old))
            self._submit.submit(self._tenant, new.name)
            return
        if target.exists() and not overwrite:
            raise asyncssh.SFTPFailure("file exists")
        os.replace(self._real(old), target)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise asyncssh.SFTPPermissionDenied("no subfolders")

    def rmdir(self, path: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("the folders are fixed")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("no links")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("no links")

    def readlink(self, path: bytes) -> bytes:
        raise asyncssh.SFTPNoSuchFile("no links")

    # Times and modes are the server's: accepted and ignored, as clients set them routinely.
    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._stat(path)

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._stat(path)

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        self._handle(file_obj)

    def statvfs(self, path: bytes) -> Any:
        raise asyncssh.SFTPOpUnsupported("not supported")

    def fstatvfs(self, file_obj: object) -> Any:
        raise asyncssh.SFTPOpUnsupported("not supported")

    def fsync(self, file_obj: object) -> None:
        os.fsync(self._handle(file_obj).fd)

    @staticmethod
    def _handle(file_obj: object) -> _Handle:
        if not isinstance(file_obj, _Handle):
            raise asyncssh.SFTPFailure("bad handle")
        return file_obj
