"""`make run`'s Redis keeps an append-only file, like docker-compose's: killed and started
again on the same folder, it still holds what was queued (docs/delivery-guarantees.md)."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import redis

from dev.dev_certs import DevCerts
from dev.stack import REDIS_DATA_DIR, build_processes
from tests.support.processes import ManagedProcess, free_port

READY = r"Ready to accept connections"


def _server(port: int, data_dir: Path) -> ManagedProcess:
    command = [
        sys.executable,
        "-m",
        "dev.redis_server",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
    ]
    return ManagedProcess("aof-redis", command, dict(os.environ), READY)


def test_a_killed_dev_redis_restarted_on_its_folder_keeps_the_queued_jobs(tmp_path: Path) -> None:
    port = free_port()
    server = _server(port, tmp_path / "redis").start()
    try:
        client = redis.Redis(port=port)
        client.rpush("bulk", "a job message")
        client.close()
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        server.start()
        with redis.Redis(port=port) as again:
            assert again.lrange("bulk", 0, -1) == [b"a job message"]
    finally:
        server.stop()


def test_make_run_starts_that_redis_on_a_folder_that_outlives_it() -> None:
    unused = Path("/nonexistent")
    processes, _, _ = build_processes({}, DevCerts(unused, unused, unused, unused, unused))
    words = shlex.split(processes["redis"])
    assert words[words.index("--dir") + 1] == str(REDIS_DATA_DIR)
    assert "--no-appendonly" not in words
