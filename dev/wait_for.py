"""Wait until TCP services accept connections, then run a command in this process's place.

python -m dev.wait_for 127.0.0.1:6379 127.0.0.1:27017 -- celery -A ... worker
"""

from __future__ import annotations

import os
import socket
import sys
import time


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def main(argv: list[str]) -> None:
    if "--" not in argv:
        sys.exit("usage: python -m dev.wait_for HOST:PORT ... -- COMMAND ...")
    split = argv.index("--")
    targets, command = argv[:split], argv[split + 1 :]
    for target in targets:
        host, _, port = target.rpartition(":")
        if not wait_for_port(host, int(port), timeout_s=60):
            sys.exit(f"{target} did not accept connections within 60 s")
    os.execvp(command[0], command)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
