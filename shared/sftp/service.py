"""The SFTP drop's process: the asyncssh listener, one thread that takes uploads one at a
time (shared/sftp/intake.py), and a loop that, every PASSWIRE_SFTP_POLL_S, retries what a
failure left (uploads not filed, files still in incoming/) and writes the results of
imports that have ended.

At start it first removes half-written leftovers of a stopped server, finishes uploads it
had claimed, queues again the planning job of imports still `queued` (their message may have
been lost with Redis), and takes every complete file waiting in incoming/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from shared.sftp.intake import Drop, reject_oversized, requeue_lost, resume_received, take_upload
from shared.sftp.results import write_finished_results
from shared.sftp.server import DropSftpServer, DropSSHServer, Logins, Submit
from shared.sftp.ssh import asyncssh

log = logging.getLogger(__name__)


class DropService(Submit):
    def __init__(self, drop: Drop, loop: asyncio.AbstractEventLoop) -> None:
        self.drop = drop
        self._loop = loop
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sftp-intake")

    def _run(self, what: str, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future = self._loop.run_in_executor(self._thread, function, *args)

        def logged(done: asyncio.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.error(
                    "sftp %s failed; retried at the next sweep", what, exc_info=done.exception()
                )

        future.add_done_callback(logged)
        return future

    def submit(self, tenant_id: str, name: str) -> None:
        self._run(f"upload {name} of {tenant_id}", take_upload, self.drop, tenant_id, name)

    def oversized(self, tenant_id: str, name: str) -> None:
        limit = self.drop.configs[tenant_id].max_file_bytes
        self._run(
            f"upload {name} of {tenant_id}", reject_oversized, self.drop, tenant_id, name, limit
        )

    def start_up(self) -> asyncio.Future[Any]:
        return self._run("start-up sweep", _start_up, self.drop)

    def sweep(self) -> asyncio.Future[Any]:
        return self._run("sweep", _sweep, self.drop)

    def shutdown(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=False)


def _start_up(drop: Drop) -> None:
    for tenant_id in drop.configs:
        folders = drop.folders(tenant_id)
        folders.ensure()
        if removed := folders.remove_leftovers():
            log.info(
                "sftp %s: %d half-written files of a stopped server removed", tenant_id, removed
            )
    resumed = resume_received(drop)
    requeued = _guarded("queueing lost imports again", requeue_lost, drop) or 0
    if resumed or requeued:
        log.info("sftp start: %d uploads resumed, %d imports queued again", resumed, requeued)
    _take_waiting(drop)


def _sweep(drop: Drop) -> None:
    resume_received(drop)
    _take_waiting(drop)
    write_finished_results(drop)


def _take_waiting(drop: Drop) -> None:
    for tenant_id in drop.configs:
        for name in drop.folders(tenant_id).complete_uploads():
            _guarded(f"upload {name} of {tenant_id}", take_upload, drop, tenant_id, name)


def _guarded(what: str, function: Callable[..., Any], *args: Any) -> Any:
    """One file's or step's trouble (MongoDB or Redis away) never holds the others back."""
    try:
        return function(*args)
    except Exception:
        log.exception("sftp %s failed; retried at the next sweep", what)
        return None


async def serve(
    drop: Drop, *, host: str, port: int, host_key: Path, poll_s: float, logins: Logins
) -> None:
    service = DropService(drop, asyncio.get_running_loop())
    with contextlib.suppress(Exception):  # logged; the sweeps retry what it left
        await service.start_up()

    def sftp_factory(chan: asyncssh.SSHServerChannel[bytes]) -> DropSftpServer:
        tenant_id = chan.get_extra_info("username")
        return DropSftpServer(
            chan,
            folders=drop.folders(tenant_id),
            config=drop.configs[tenant_id],
            submit=service,
        )

    server = await asyncssh.listen(
        host,
        port,
        server_factory=lambda: DropSSHServer(logins),
        server_host_keys=[str(host_key)],
        sftp_factory=sftp_factory,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
    )
    bound = server.sockets[0].getsockname()
    log.info("sftp drop listening on %s:%d (%d tenants)", bound[0], bound[1], len(drop.configs))
    try:
        while True:
            await asyncio.sleep(poll_s)
            with contextlib.suppress(Exception):  # logged; the next sweep retries
                await service.sweep()
    finally:
        server.close()
        service.shutdown()
