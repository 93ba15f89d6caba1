"""The API as deployed (the Procfile's `web` command: gunicorn, a real process): it never writes
a download link's token to its access log (`t=` is redacted in the request line and in the
Referer, whatever the page answers), and holds chunked bodies to the size limit."""

from __future__ import annotations

import http.client
import json
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from config.settings import Settings
from tests.conftest import DEMO_KEY
from tests.support.processes import BIN_DIR, ManagedProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def procfile_web_command(port: int) -> list[str]:
    """The Procfile's web command, on loopback with one worker and this venv's gunicorn."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    command = shlex.split(line.partition(":")[2])
    assert command[0] == "gunicorn"
    command[0] = str(BIN_DIR / "gunicorn")
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    command[command.index("--workers") + 1] = "1"
    return command


@pytest.fixture(scope="module")
def gunicorn_web(stack_env: dict[str, str]) -> Iterator[tuple[str, ManagedProcess]]:
    port = free_port()
    process = ManagedProcess(
        "gunicorn-web", procfile_web_command(port), stack_env, r"Booting worker"
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base), 30, what="gunicorn to answer")
    yield base, process
    process.stop()


def _answers(base: str) -> bool:
    try:
        requests.get(f"{base}/healthz", timeout=2)
    except requests.ConnectionError:
        return False
    return True


@pytest.mark.parametrize("page", ["view", "download/apple", "download/google"])
def test_link_tokens_never_reach_the_access_log(
    gunicorn_web: tuple[str, ManagedProcess], page: str
) -> None:
    base, process = gunicorn_web
    token = f"secret{secrets.token_hex(16)}"
    path = f"/api/demo/passes/NO-SUCH-PASS/{page}"
    referer = f"{base}/api/demo/passes/NO-SUCH-PASS/view?medium=email&t={token}"
    requests.get(
        f"{base}{path}",
        params={"t": token, "medium": "sms"},
        headers={"Referer": referer},
        timeout=10,
    )

    def logged() -> str | None:
        lines = [line for line in process.output().splitlines() if path in line]
        return lines[-1] if lines else None

    line = wait_until(logged, 10, what="the access log line")
    assert token not in process.output()
    assert f"{path}?t=[redacted]&medium=sms" in line
    assert "view?medium=email&t=[redacted]" in line


def test_a_chunked_json_body_over_the_limit_is_413(
    gunicorn_web: tuple[str, ManagedProcess], settings: Settings
) -> None:
    base, _ = gunicorn_web
    body = json.dumps({"metadata": {"note": "x" * settings.max_request_bytes}}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=30)
    try:
        connection.request(
            "POST",
            "/api/demo/passes?passType=loyalty",
            body=(body[i : i + 4096] for i in range(0, len(body), 4096)),
            headers={"X-API-Key": DEMO_KEY, "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["code"] == "payload_too_large"
    finally:
        connection.close()
