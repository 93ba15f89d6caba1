"""A stack of real processes for one fault scenario: a redis-server of its own (killed and
restarted by the test, with or without an append-only file), the session's MongoDB wire server
reached by the workers through a TCP proxy the test can cut, the API on a real HTTP port, Celery
workers consuming every queue, and a real `celery beat` sending the watchdog.

Short recovery settings keep each scenario under a minute or two: the watchdog runs every
WATCHDOG_INTERVAL_S and takes a campaign stalled for STALL_S; jobs retry a dropped connection
for RETRY_BUDGET_S (shorter than the MongoDB cut, so jobs give up during it, as they would in
a longer outage under the default budget). The visibility timeout stays at its default (an
hour): recovery must not wait for it.

Like docker-compose (`restart: unless-stopped`), the stack restarts a worker or beat that exits
on its own: a Celery worker can die of the broker's loss ("Unrecoverable error" while kombu
restores its unacknowledged messages). What the test kills stays dead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from werkzeug.serving import make_server

from config.celery import QUEUES
from config.settings import Settings
from dev.redis_server import server_command
from tests.conftest import DEMO_KEY
from tests.faults.tcp_proxy import TcpProxy
from tests.support.api_client import ApiClient
from tests.support.processes import BIN_DIR, ManagedProcess, free_port, worker_command

STALL_S = 6
WATCHDOG_INTERVAL_S = 2
RETRY_BUDGET_S = 10


class FaultStack:
    def __init__(
        self,
        stack_env: dict[str, str],
        settings: Settings,
        workdir: Path,
        *,
        append_only: bool,
        redis_url: str | None = None,
    ) -> None:
        self.workdir = workdir
        redis_port = free_port()
        # `redis_url`: a Redis the test runs itself (a Sentinel deployment), not the stack's.
        self._own_redis = redis_url is None
        self.redis_url = redis_url or f"redis://127.0.0.1:{redis_port}/0"
        redis_dir = workdir / "redis"
        redis_dir.mkdir()
        self.redis = ManagedProcess(
            "fault-redis",
            server_command(redis_port, str(redis_dir), append_only=append_only),
            dict(os.environ),
            r"Ready to accept connections",
        )
        mongo = urlsplit(settings.mongodb_uri)
        assert mongo.hostname is not None and mongo.port is not None
        self.mongo_proxy = TcpProxy(mongo.hostname, mongo.port)
        proxied = mongo._replace(netloc=f"127.0.0.1:{self.mongo_proxy.port}")
        self.env = {
            **stack_env,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "MONGODB_URI": urlunsplit(proxied),
            "PASSWIRE_CAMPAIGN_STALL_S": str(STALL_S),
            "PASSWIRE_CAMPAIGN_WATCHDOG_INTERVAL_S": str(WATCHDOG_INTERVAL_S),
            "PASSWIRE_TRANSIENT_RETRY_BUDGET_S": str(RETRY_BUDGET_S),
        }
        # The API (in this process) reaches MongoDB directly: the test watches through it.
        self.settings = replace(settings, redis_url=self.redis_url, broker_url=self.redis_url)
        self.workers: list[ManagedProcess] = []
        self.beat = ManagedProcess(
            "fault-beat",
            [
                str(BIN_DIR / "celery"),
                "-A",
                "workers.celery_app",
                "beat",
                "-s",
                str(workdir / "beat-schedule"),
                "--loglevel",
                "INFO",
            ],
            self.env,
            r"beat: Starting",
        )
        self._server: object | None = None
        self.demo: ApiClient | None = None
        self._lock = threading.Lock()
        self._killed: set[int] = set()  # id() of the processes the test killed
        self._closing = threading.Event()
        self.restarts: list[str] = []  # what the supervisor restarted, for the figures
        self._supervisor: threading.Thread | None = None

    def start(self) -> FaultStack:
        from api.app import create_app

        if self._own_redis:
            self.redis.start()
        self.mongo_proxy.start()
        server = make_server("127.0.0.1", 0, create_app(self.settings), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        self.demo = ApiClient(f"http://127.0.0.1:{server.server_port}", "demo", DEMO_KEY)
        self.start_worker()
        self.beat.start()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        while not self._closing.wait(0.5):
            with self._lock:
                exited = [
                    p
                    for p in [*self.workers, self.beat]
                    if p.process is not None
                    and p.process.poll() is not None
                    and id(p) not in self._killed
                ]
            for process in exited:
                if self._closing.is_set():
                    return
                assert process.process is not None
                self.restarts.append(f"{process.name} exited ({process.process.returncode})")
                if process is self.beat:
                    self.beat.start()
                else:
                    with self._lock:
                        self._killed.add(id(process))
                    self.start_worker()

    def start_worker(self) -> ManagedProcess:
        with self._lock:
            name = f"fault{len(self.workers)}"
            command = worker_command(",".join(QUEUES), name)
            worker = ManagedProcess(name, command, self.env, r"\bready\.")
            self.workers.append(worker)
        return worker.start()

    def live_worker(self) -> ManagedProcess:
        """The worker started last (the supervisor may have replaced the test's)."""
        with self._lock:
            return self.workers[-1]

    def kill_worker_main(self, worker: ManagedProcess) -> None:
        """SIGKILL the worker's main process alone, as a lost host or an OOM kill would:
        its messages stay unacknowledged in Redis until the visibility timeout."""
        assert worker.process is not None
        with self._lock:
            self._killed.add(id(worker))
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(10)

    def kill_worker(self, worker: ManagedProcess) -> None:
        """SIGKILL the worker's main process and its pool children at once."""
        assert worker.process is not None
        with self._lock:
            self._killed.add(id(worker))
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(10)

    def kill_redis(self) -> None:
        assert self.redis.process is not None
        self.redis.process.send_signal(signal.SIGKILL)
        self.redis.process.wait(10)

    def close(self) -> None:
        self._closing.set()
        if self._supervisor is not None:
            self._supervisor.join(90)  # a restart under way finishes: then it is stopped too
        self.beat.stop()
        for worker in self.workers:
            if worker.process is not None:
                # A killed main process may have left its pool children behind.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait(10)
        if self._server is not None:
            self._server.shutdown()  # type: ignore[attr-defined]
        self.mongo_proxy.cut()
        if self._own_redis:
            self.redis.stop()


@contextmanager
def running_stack(
    stack_env: dict[str, str],
    settings: Settings,
    workdir: Path,
    *,
    append_only: bool = False,
    redis_url: str | None = None,
) -> Iterator[FaultStack]:
    stack = FaultStack(stack_env, settings, workdir, append_only=append_only, redis_url=redis_url)
    try:
        yield stack.start()
    finally:
        stack.close()
