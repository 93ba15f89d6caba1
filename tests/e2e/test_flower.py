"""Flower, started as operators start it, lists the worker and shows create tasks with
their correlationId."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.api_client import ApiClient
from tests.support.processes import ManagedProcess, flower_command, free_port, wait_until

AUTH = ("operator", "s3cret-for-tests")


@pytest.fixture
def flower(stack_env: dict[str, str], worker: ManagedProcess) -> Iterator[str]:
    port = free_port()
    env = {**stack_env, "FLOWER_BASIC_AUTH": ":".join(AUTH)}
    process = ManagedProcess(
        "flower", flower_command(port), env, r"Visit me at|Registered tasks|Connected to"
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _get(url, "/api/workers", AUTH) is not None, 30, what="flower API")
    yield url
    process.stop()


def _get(url: str, path: str, auth: tuple[str, str] | None) -> Any:
    try:
        response = requests.get(f"{url}{path}", auth=auth, timeout=5)
    except requests.ConnectionError:
        return None
    return response.json() if response.status_code == 200 else None


def test_flower_requires_auth(flower: str) -> None:
    assert requests.get(f"{flower}/api/workers", timeout=5).status_code == 401


def test_flower_lists_the_worker_and_create_tasks(flower: str, demo: ApiClient) -> None:
    workers = wait_until(lambda: _get(flower, "/api/workers?refresh=1", AUTH), 30, what="workers")
    assert any(name.startswith("e2e@") for name in workers)

    correlation_id = demo.create_pass("loyalty").json()["correlationId"]
    demo.wait_for_final(correlation_id)

    def create_task() -> dict[str, Any] | None:
        tasks = _get(flower, "/api/tasks?taskname=passwire.passes.create", AUTH) or {}
        return next((t for t in tasks.values() if correlation_id in str(t.get("kwargs"))), None)

    task = wait_until(create_task, 30, interval=0.5, what="the create task in flower")
    assert task["name"] == "passwire.passes.create"
    assert task["state"] == "SUCCESS"
