"""Turning a complete upload in incoming/ into an import, as `POST /imports` would.

The file is read and checked whole by the same code as the API (shared/imports/csv_file.py);
a file that fails a check moves to rejected/ with `<name>.errors.txt` naming each row and
column at fault, and nothing is stored. An accepted file is claimed in MongoDB by the hash of
its name and content (the same file dropped twice imports once), its rows and operation are
stored (shared/imports/storing.py), its planning job is queued, and it moves to processed/.
Each step is recorded first, so a server stopped anywhere resumes the upload at its next
start (`resume_received`) and never imports anything twice: MongoDB holds the truth, Redis
carries the message.

Everything here blocks (files, MongoDB, the broker): the server runs it on one thread of
its own, one upload at a time.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared import operations
from shared.imports import PLAN_TASK
from shared.imports.csv_file import read_import_file
from shared.imports.problems import ImportRejected, Problem
from shared.imports.storing import forget_import, store_import
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id
from shared.infra.logs import correlation_context
from shared.jobs import EnqueueError
from shared.repositories import operations as operations_repo
from shared.repositories import sftp_uploads as repo
from shared.sftp.config import SftpConfig
from shared.sftp.folders import TenantFolders, errors_name
from shared.sftp.paths import INCOMING, PROCESSED, REJECTED

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

Enqueue = Callable[..., None]  # JobQueue.enqueue: (task name, **kwargs)
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Drop:
    """What taking uploads needs: the database, the broker, the folders, each tenant's limits."""

    db: Database[Any]
    enqueue: Enqueue
    data_dir: Path
    configs: Mapping[str, SftpConfig]  # tenant id → its [sftp]

    def folders(self, tenant_id: str) -> TenantFolders:
        return TenantFolders.of(self.data_dir, tenant_id)


def content_hash(name: str, data: bytes) -> str:
    """Of the name and the content: renaming a file is how to import the same rows again."""
    digest = hashlib.sha256(name.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(data)
    return digest.hexdigest()


def take_upload(drop: Drop, tenant_id: str, name: str) -> str:
    """Import or reject incoming/`name`; what became of it (for the log)."""
    config = drop.configs[tenant_id]
    folders = drop.folders(tenant_id)
    source = folders.path(INCOMING, name)
    try:
        size = source.stat().st_size
    except FileNotFoundError:
        return "gone"  # removed by the tenant, or taken already
    if size > config.max_file_bytes:
        reason = f"is {size} bytes, more than this drop's limit of {config.max_file_bytes}"
        return _reject(folders, name, "The file is too large.", [Problem("file", reason)])
    data = source.read_bytes()
    try:
        upload = read_import_file(data, max_rows=config.max_rows)
    except ImportRejected as exc:
        return _reject(folders, name, exc.message, exc.problems)
    now = utcnow()
    upload_id = repo.upload_id(tenant_id, content_hash(name, data))
    earlier = repo.find(drop.db, upload_id)
    if earlier is None:
        if repo.count_since(drop.db, tenant_id, now - DAY) >= config.max_files_per_day:
            reason = f"this drop takes at most {config.max_files_per_day} files in 24 hours"
            problem = Problem("file", reason + "; upload it again later")
            return _reject(folders, name, "Too many files today.", [problem])
        earlier, _ = repo.claim(
            drop.db,
            {
                "_id": upload_id,
                "tenant": tenant_id,
                "name": name,
                "size": size,
                "rows": len(upload.rows),
                "correlationId": new_correlation_id(),
                "processedName": folders.free_name(PROCESSED, name),
                "status": repo.RECEIVED,
                "receivedAt": now,
            },
        )
    # Still `received`: claimed by a run stopped halfway through this very file; carry on.
    # Anything further along: the same file came before, and is not imported twice.
    claimed = earlier
    if claimed["status"] != repo.RECEIVED:
        reason = (
            f"the same file ({name!r}, same content) was imported at "
            f"{_when(claimed['receivedAt'])} as operation {claimed['correlationId']} "
            f"(processed/{claimed['processedName']}); it is not imported twice. To import "
            "these rows again on purpose, upload it under another name"
        )
        return _reject(folders, name, "Already imported.", [Problem("file", reason)])
    with correlation_context(claimed["correlationId"]):
        _store_and_queue(drop, claimed, lambda: upload)
        log.info("sftp upload %s of %s imported: %d rows", name, tenant_id, len(upload.rows))
    return "imported"


def _store_and_queue(drop: Drop, upload: Mapping[str, Any], read: Callable[[], Any]) -> None:
    """From `received` to `filed`; each step safe to run again after a stop."""
    tenant_id, correlation_id = upload["tenant"], upload["correlationId"]
    if operations_repo.find_operation(drop.db, tenant_id, correlation_id) is None:
        forget_import(drop.db, tenant_id, correlation_id)  # rows of a store cut short
        store_import(drop.db, tenant_id=tenant_id, correlation_id=correlation_id, upload=read())
    try:
        drop.enqueue(PLAN_TASK, tenant_id=tenant_id, correlation_id=correlation_id)
    except EnqueueError as exc:
        # Stays `received`, its file in incoming/: the next sweep queues it again.
        log.error("%s (sftp upload %s)", exc, upload["_id"])
        raise
    folders = drop.folders(tenant_id)
    source = folders.path(INCOMING, upload["name"])
    if source.exists():
        os.replace(source, folders.path(PROCESSED, upload["processedName"]))
    repo.set_status(drop.db, upload["_id"], repo.FILED, utcnow())


def resume_received(drop: Drop) -> int:
    """Finish uploads claimed by a server that stopped before filing them; how many."""
    resumed = 0
    for upload in list(repo.unfinished(drop.db, repo.RECEIVED, drop.configs)):
        tenant_id = upload["tenant"]
        source = drop.folders(tenant_id).path(INCOMING, upload["name"])
        config = drop.configs.get(tenant_id)

        def read(source: Path = source, config: SftpConfig | None = config) -> Any:
            return read_import_file(source.read_bytes(), max_rows=config.max_rows if config else 1)

        with correlation_context(upload["correlationId"]):
            try:
                _store_and_queue(drop, upload, read)
            except Exception as exc:  # one upload's trouble never holds the others back
                log.warning("sftp upload %s not resumed yet: %s", upload["_id"], exc)
                continue
        resumed += 1
    return resumed


def requeue_lost(drop: Drop) -> int:
    """Queue again the planning job of filed imports still `queued`: their message may have
    been lost with Redis. Planning twice is harmless (batches count once)."""
    requeued = 0
    for upload in list(repo.unfinished(drop.db, repo.FILED, drop.configs)):
        operation = operations_repo.find_operation(
            drop.db, upload["tenant"], upload["correlationId"]
        )
        if operation is not None and operation["status"] == operations.QUEUED:
            drop.enqueue(
                PLAN_TASK, tenant_id=upload["tenant"], correlation_id=upload["correlationId"]
            )
            requeued += 1
    return requeued


def reject_oversized(drop: Drop, tenant_id: str, name: str, limit: int) -> str:
    """An upload refused while it was written (past `limit`): only its errors file, in
    rejected/, since what arrived is not the whole file."""
    folders = drop.folders(tenant_id)
    target = folders.free_name(REJECTED, name)
    text = (
        f"{name} was not imported: The file is too large.\n\n"
        f"file: is larger than this drop's limit of {limit} bytes; the upload was stopped "
        "there and nothing was kept.\n\nNothing in this file was applied.\n"
    )
    folders.write_atomically(REJECTED, errors_name(target), text.encode())
    log.info("sftp upload %s of %s rejected: larger than %d bytes", name, tenant_id, limit)
    return "rejected"


def _reject(folders: TenantFolders, name: str, message: str, problems: list[Problem]) -> str:
    """The file to rejected/, `<name>.errors.txt` beside it saying why; nothing stored."""
    target = folders.free_name(REJECTED, name)
    lines = [f"{name} was not imported: {message}", ""]
    lines += [f"{problem.field}: {problem.reason}" for problem in problems]
    lines += ["", "Nothing in this file was applied. Fix it and upload it again."]
    folders.write_atomically(REJECTED, errors_name(target), ("\n".join(lines) + "\n").encode())
    os.replace(folders.path(INCOMING, name), folders.path(REJECTED, target))
    log.info("sftp upload %s rejected: %s", name, message)
    return "rejected"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
