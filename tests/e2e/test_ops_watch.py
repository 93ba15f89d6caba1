"""`passwire ops watch` as an operator runs it: the installed console script, in its own
process with output to a pipe (not a terminal), polling the real API over HTTP while the real
worker runs a campaign."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared import operations
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.passes.documents import new_pass_document
from tests.conftest import DEMO_KEY
from tests.support.api_client import ApiClient

PASSWIRE = str(Path(sys.executable).parent / "passwire")  # the venv's console script
BAR_LINE = re.compile(r"^(?P<status>\w+)\s+\[[#.]+\] (?P<processed>[\d,]+)/(?P<total>[\d,]+) ")
PASSES = 250  # three batches of the test stack's 100


def watch_command(api_url: str, correlation_id: str) -> list[str]:
    return [PASSWIRE, "ops", "watch", correlation_id, "--tenant", "demo", "--url", api_url,
            "--interval", "0.2"]  # fmt: skip


def cli_env(api_key: str = DEMO_KEY) -> dict[str, str]:
    # Nothing of the stack's settings: the watcher only needs the API and a key.
    return {**os.environ, "PASSWIRE_API_KEY": api_key}


def insert_passes(db: Any, tag: str, count: int) -> None:
    now = utcnow()
    db.passes.insert_many(
        new_pass_document(
            pass_id=new_pass_id(),
            tenant_id="demo",
            pass_type="loyalty",
            identifiers={"crm": f"W-{tag}-{index}"},
            metadata={"campaign": tag},
            additional_data={"points": index},
            correlation_id="test-insert",
            now=now,
        )
        for index in range(count)
    )


@pytest.mark.usefixtures("worker")
def test_it_follows_a_campaign_to_the_end(api_url: str, demo: ApiClient, db: Any) -> None:
    tag = secrets.token_hex(6)
    insert_passes(db, tag, PASSES)
    response = demo.session.post(
        demo.url("/push-updates"),
        json={"filter": {"metadata": {"campaign": [tag]}}, "data": {"metadata": {"seen": "1"}}},
        timeout=10,
    )
    assert response.status_code == 202, response.text

    watched = subprocess.run(
        watch_command(api_url, response.json()["correlationId"]),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert watched.returncode == 0, (watched.stdout, watched.stderr)
    lines = watched.stdout.splitlines()
    assert "\r" not in watched.stdout and "\x1b" not in watched.stdout  # plain lines in a pipe
    assert all(BAR_LINE.match(line) for line in lines), lines
    final = BAR_LINE.match(lines[-1])
    assert final is not None
    assert final["status"] == "completed"
    assert final["processed"] == final["total"] == f"{PASSES}"
    assert f"ok {PASSES} failed 0" in lines[-1]
    assert watched.stderr == ""


@pytest.mark.parametrize(
    ("api_key", "message"),
    [
        (DEMO_KEY, "HTTP 404: Unknown operation. (correlationId: no such operation)"),
        ("not-a-key-of-demo", "HTTP 401"),
    ],
)
def test_what_cannot_be_followed_exits_3_with_the_apis_message(
    api_url: str, api_key: str, message: str
) -> None:
    watched = subprocess.run(
        watch_command(api_url, new_correlation_id()),
        env=cli_env(api_key),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert watched.returncode == 3, (watched.stdout, watched.stderr)
    assert message in watched.stderr
    assert "Traceback" not in watched.stderr
    assert "not-a-key-of-demo" not in watched.stderr + watched.stdout


# Runs the command with SIGINT at its default, as from a terminal: a suite started in the
# background by a shell (`make test &`) hands its children SIGINT ignored, and Python then
# leaves it ignored (an exec keeps a default handler, and keeps an ignored signal ignored).
SIGINT_AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]


def test_ctrl_c_stops_watching_cleanly(api_url: str, db: Any) -> None:
    # An operation no worker will take (none is enqueued): it stays queued while watched.
    correlation_id = new_correlation_id()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id, tenant_id="demo", kind="pushUpdate", total=0, intent={}
        ),
    )
    process = subprocess.Popen(
        [*SIGINT_AS_FROM_A_TERMINAL, *watch_command(api_url, correlation_id)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # it is polling: its handlers are in place
        assert first.startswith("queued "), first
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        operations.request_cancel(db, "demo", correlation_id)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"stopped watching; operation {correlation_id} goes on" in stderr
