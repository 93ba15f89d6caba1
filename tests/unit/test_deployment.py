"""Procfile and docker-compose.yml describe the same processes, and every queue declared in
config/celery.py is consumed by some worker in both."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config.celery import (
    EXPIRE_DUE,
    QUEUES,
    RECONCILE_STATS,
    RESEND_OWED,
    TASK_ROUTES,
    beat_schedule,
    celery_config,
)
from config.settings import Settings
from dev.dev_certs import ensure_dev_certs
from dev.stack import DEV_CERTS_DIR, build_processes

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
    assert {
        "redis", "mongo", "apns", "google", "smtp", "web", "worker", "beat", "flower", "metrics",
        "sftp",
        "live",
    } == set(processes)  # fmt: skip
    assert env["GOOGLE_WALLET_API_URL"].startswith("http://127.0.0.1:")
    assert _consumed_queues({"worker": shlex.split(processes["worker"])}) == set(QUEUES)
    assert env["REDIS_URL"].startswith("redis://127.0.0.1:")


def test_the_local_stack_uses_given_servers(tmp_path: Path) -> None:
    processes, env, _ = build_processes(
        {
            "REDIS_URL": "redis://cache:6379/0",
            "MONGODB_URI": "mongodb://db:27017/passwire",
            "APNS_HOST": "api.sandbox.push.apple.com",
            "GOOGLE_WALLET_API_URL": "https://walletobjects.googleapis.com",
        },
        ensure_dev_certs(tmp_path),
    )
    assert not {"redis", "mongo", "apns", "google"} & set(processes)
    assert env["MONGODB_URI"] == "mongodb://db:27017/passwire"


def _celery_words(command: list[str]) -> list[str]:
    """The command from `celery` on, whatever runs it (a wait-for wrapper, a full path)."""
    for index, word in enumerate(command):
        if Path(word).name == "celery":
            return ["celery", *command[index + 1 :]]
    return command


def _is_beat(command: list[str]) -> bool:
    return _celery_words(command)[:4] == ["celery", "-A", "workers.celery_app", "beat"]


def _is_live_server(command: list[str]) -> bool:
    return (
        "workers.live_server" in command
        and command[command.index("workers.live_server") - 1] == "-m"
    )


def test_one_live_channel_server_everywhere_and_the_pages_find_it(tmp_path: Path) -> None:
    processes, env, _ = build_processes({}, ensure_dev_certs(tmp_path))
    local = {name: shlex.split(command) for name, command in processes.items()}
    for commands in (_procfile(), _compose(), local):
        assert [name for name, command in commands.items() if _is_live_server(command)] == ["live"]
    assert env["PASSWIRE_LIVE_URL"] == "ws://127.0.0.1:8001"
    assert local["live"][-2:] == ["--port", "8001"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-passwire"]["environment"]["PASSWIRE_LIVE_URL"] == "ws://localhost:8001"
    assert compose["services"]["live"]["ports"] == ["8001:8001"]


def test_one_beat_process_everywhere(tmp_path: Path) -> None:
    processes, _, _ = build_processes({}, ensure_dev_certs(tmp_path))
    local = {name: shlex.split(command) for name, command in processes.items()}
    for commands in (_procfile(), _compose(), local):
        assert [name for name, command in commands.items() if _is_beat(command)] == ["beat"]


def test_every_api_server_logs_through_the_redacting_config(tmp_path: Path) -> None:
    # tests/e2e/test_gunicorn_web.py runs the Procfile's command; the others must match it.
    processes, _, _ = build_processes({}, ensure_dev_certs(tmp_path))
    for web in (_procfile()["web"], _compose()["web"], shlex.split(processes["web"])):
        gunicorn = [Path(word).name for word in web].index("gunicorn")
        options = web[gunicorn + 1 :]
        assert options[options.index("--config") + 1] == "python:config.gunicorn", web
        assert "--access-logfile" not in options and "--access-logformat" not in options


def test_the_access_log_redacts_link_tokens_wherever_they_appear() -> None:
    from config.gunicorn import redact_link_tokens

    assert redact_link_tokens("GET /p/view?t=abc.DEF-1_2&medium=sms HTTP/1.1") == (
        "GET /p/view?t=[redacted]&medium=sms HTTP/1.1"
    )
    assert redact_link_tokens("t=abc") == "t=[redacted]"  # the query string atom
    assert redact_link_tokens("medium=email&t=abc") == "medium=email&t=[redacted]"
    assert redact_link_tokens("https://x/view?at=1&format=t") == "https://x/view?at=1&format=t"


@pytest.mark.parametrize(
    ("task", "setting", "default"),
    [
        (EXPIRE_DUE, "expiry_interval_s", 60.0),
        (RESEND_OWED, "resend_interval_s", 300.0),
        (RECONCILE_STATS, "stats_reconcile_interval_s", 600.0),
    ],
)
def test_beat_sends_each_sweep_at_its_configured_interval(
    task: str, setting: str, default: float
) -> None:
    schedule = beat_schedule(Settings(**{setting: 7}))
    [entry] = [entry for entry in schedule.values() if entry["task"] == task]
    assert entry["schedule"] == 7.0
    [entry] = [e for e in celery_config(Settings())["beat_schedule"].values() if e["task"] == task]
    assert entry["schedule"] == default
    if task == RESEND_OWED:  # the delay travels with the job: one setting, read by beat
        entries = beat_schedule(Settings(resend_after_s=9)).values()
        assert [e["kwargs"] for e in entries if e["task"] == task] == [{"owed_for_s": 9}]
    # Routed to a queue that some worker consumes.
    routes = [r["queue"] for pattern, r in TASK_ROUTES.items() if task.startswith(pattern[:-1])]
    assert routes and set(routes) <= set(QUEUES)


def test_the_sftp_drop_runs_the_same_way_everywhere(tmp_path: Path) -> None:
    processes, env, _ = build_processes({}, ensure_dev_certs(tmp_path))
    for command in (_procfile()["sftp"], _compose()["sftp"], shlex.split(processes["sftp"])):
        start = command.index("workers.sftp_server")
        assert command[start - 1 : start + 2] == ["-m", "workers.sftp_server", "--create-host-key"]
    # Its folders and host key survive restarts: on a volume, or under .run/ locally.
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["sftp"]
    assert any(volume.endswith(":/var/lib/passwire/sftp") for volume in service["volumes"])
    assert service["environment"]["PASSWIRE_SFTP_DATA_DIR"].startswith("/var/lib/passwire/sftp/")
    assert Path(env["PASSWIRE_SFTP_DATA_DIR"]).is_absolute()


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
