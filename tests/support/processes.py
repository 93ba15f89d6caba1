"""Starting and stopping the real processes the end-to-end tests drive."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition"
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class ManagedProcess:
    """A child process whose output is kept in a log file and scanned for a ready line."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], ready_pattern: str):
        self.name = name
        self.command = command
        self.env = env
        self.ready_pattern = re.compile(ready_pattern)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"passwire-{name}-", suffix=".log")[1])
        self._output: list[str] = []
        self._ready = threading.Event()
        self.match: re.Match[str] | None = None

    def start(self, timeout: float = 60) -> ManagedProcess:
        self._ready.clear()
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise AssertionError(f"{self.name} did not become ready:\n{self.output_tail()}")
        return self

    def _pump(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace")
                log.write(line)
                log.flush()
                self._output.append(line)
                if not self._ready.is_set():
                    match = self.ready_pattern.search(line)
                    if match:
                        self.match = match
                        self._ready.set()

    def output(self) -> str:
        return "".join(self._output)

    def output_tail(self, lines: int = 60) -> str:
        return "".join(self._output[-lines:])

    def stop(self, timeout: float = 20) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        # The whole process group: prefork children go too.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def redis_command(port: int) -> list[str]:
    from dev.redis_server import server_command

    return server_command(port, tempfile.mkdtemp(prefix="passwire-test-redis-"))


def mongo_wire_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "dev.mongo_wire_server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]


def worker_command(queues: str, name: str, concurrency: int = 2) -> list[str]:
    return [
        str(BIN_DIR / "celery"),
        "-A",
        "workers.celery_app",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "-n",
        f"{name}@%h",
        "--without-mingle",
        "--without-gossip",
    ]


def flower_command(port: int) -> list[str]:
    return [sys.executable, "-m", "workers.flower", f"--port={port}", "--address=127.0.0.1"]
