"""Start Flower, refusing to run without basic auth outside local development.

python -m workers.flower --port 5555
"""

from __future__ import annotations

import os
import sys

from config.settings import load_settings


def flower_command(extra: list[str]) -> list[str]:
    # This interpreter's celery, so it works from a virtualenv that is not activated.
    return [sys.executable, "-m", "celery", "-A", "workers.celery_app", "flower", *extra]


def main(argv: list[str]) -> None:
    settings = load_settings()
    if not settings.is_local and not settings.flower_basic_auth:
        sys.exit("FLOWER_BASIC_AUTH (user:password) is required outside local development")
    # Flower reads FLOWER_BASIC_AUTH itself; the check above only makes it mandatory.
    command = flower_command(argv)
    os.execv(command[0], command)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
