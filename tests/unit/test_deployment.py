"""Procfile and docker-compose.yml describe the same processes, and every queue declared in
config/celery.py is consumed by some worker in both."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from config.celery import QUEUES, TASK_ROUTES
from shared.dev.dev_certs import ensure_dev_certs
from shared.dev.stack import DEV_CERTS_DIR, build_processes

ROOT = Path(__file__).resolve().parents[2]
INFRASTRUCTURE = {"mongo", "redis"}


def _procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = shlex.split(command)
    return processes


def _compose() -> dict[str, list[str]]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {
        name: service["command"]
        if isinstance(service["command"], list)
        else shlex.split(service["command"])
        for name, service in services.items()
        if name not in INFRASTRUCTURE
    }


def _consumed_queues(commands: dict[str, list[str]]) -> set[str]:
    queues: set[str] = set()
    for command in commands.values():
        if "worker" in command and "-Q" in command:
            queues.update(command[command.index("-Q") + 1].split(","))
    return queues


def test_procfile_and_compose_name_the_same_processes() -> None:
    assert set(_procfile()) == set(_compose())
    assert {"web", "flower"} <= set(_procfile())


def test_every_queue_is_consumed_in_procfile_and_compose() -> None:
    assert _consumed_queues(_procfile()) == set(QUEUES)
    assert _consumed_queues(_compose()) == set(QUEUES)


def test_every_route_targets_a_declared_queue() -> None:
    assert {route["queue"] for route in TASK_ROUTES.values()} <= set(QUEUES)


def test_the_local_stack_consumes_every_queue(tmp_path: Path) -> None:
    processes, env, _ = build_processes({}, ensure_dev_certs(tmp_path))
    assert {"redis", "mongo", "apns", "web", "worker", "flower"} == set(processes)
    assert _consumed_queues({"worker": shlex.split(processes["worker"])}) == set(QUEUES)
    assert env["REDIS_URL"].startswith("redis://127.0.0.1:")


def test_the_local_stack_uses_given_servers(tmp_path: Path) -> None:
    processes, env, _ = build_processes(
        {
            "REDIS_URL": "redis://cache:6379/0",
            "MONGODB_URI": "mongodb://db:27017/passwire",
            "APNS_HOST": "api.sandbox.push.apple.com",
        },
        ensure_dev_certs(tmp_path),
    )
    assert not {"redis", "mongo", "apns"} & set(processes)
    assert env["MONGODB_URI"] == "mongodb://db:27017/passwire"


def test_compose_puts_flower_behind_basic_auth() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]


def test_flower_refuses_to_start_without_auth_outside_local() -> None:
    env = {**os.environ, "PASSWIRE_ENV": "production", "FLOWER_BASIC_AUTH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "workers.flower"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr


def test_the_local_stack_names_its_certificates_absolutely() -> None:
    # tenant.toml resolves relative certificate paths against the tenant folder.
    assert DEV_CERTS_DIR.is_absolute()
