"""The SFTP drop's process: `python -m workers.sftp_server [--create-host-key]`.

Tenants with an `[sftp]` table log in with their keys and drop CSV files in incoming/; each
complete file becomes an import (docs/imports.md, "SFTP drop"). Tenant configuration is
read once at start, as by the API: restart it after changing keys or limits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys

from config.settings import load_settings
from shared.infra.db import get_database
from shared.infra.logs import configure_logging
from shared.jobs import JobQueue
from shared.repositories.indexes import ensure_indexes
from shared.sftp.intake import Drop
from shared.sftp.server import Logins
from shared.sftp.service import serve
from shared.sftp.ssh import create_host_key
from shared.tenancy.tenants import load_registry

log = logging.getLogger("passwire.sftp")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--create-host-key",
        action="store_true",
        help="create an Ed25519 host key at PASSWIRE_SFTP_HOST_KEY when none is there",
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.create_host_key and create_host_key(settings.sftp_host_key):
        log.info("sftp host key created at %s", settings.sftp_host_key)
    if not settings.sftp_host_key.is_file():
        sys.exit(f"PASSWIRE_SFTP_HOST_KEY: no host key at {settings.sftp_host_key}")
    registry = load_registry(settings.tenants_dir, include_local_only=settings.is_local)
    configs = {t.id: t.sftp for t in registry.tenants.values() if t.sftp is not None}
    db = get_database(settings)
    ensure_indexes(db, wait_s=60)  # the sweeps' queries; idempotent, as at a worker's start
    drop = Drop(
        db=db,
        enqueue=JobQueue(settings).enqueue,
        data_dir=settings.sftp_data_dir,
        configs=configs,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                drop,
                host=settings.sftp_host,
                port=settings.sftp_port,
                host_key=settings.sftp_host_key,
                poll_s=settings.sftp_poll_s,
                logins=Logins.of(configs, os.environ),
            )
        )


if __name__ == "__main__":
    main()
