"""The fault suite (`pytest -m faults`): campaigns through real processes while a worker, Redis
or MongoDB fails. Each scenario records how long its campaign took to finish once the fault
ended; the figures are printed at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from tests.faults.stack import FaultStack, running_stack
from tests.support.google import FakeGoogleProcess
from tests.support.wallet_passes import WalletSeeder

FIGURES: list[str] = []


@pytest.fixture
def record_figure() -> Any:
    return FIGURES.append


@pytest.fixture
def seeder(db: Any, settings: Settings, fake_google_server: FakeGoogleProcess) -> WalletSeeder:
    return WalletSeeder(db, settings, fake_google_server)


@pytest.fixture
def fault_stack(
    stack_env: dict[str, str], settings: Settings, tmp_path: Path
) -> Iterator[FaultStack]:
    with running_stack(stack_env, settings, tmp_path) as stack:
        yield stack


@pytest.fixture
def persistent_fault_stack(
    stack_env: dict[str, str], settings: Settings, tmp_path: Path
) -> Iterator[FaultStack]:
    """Its Redis keeps an append-only file, as docker-compose and `make run` run it."""
    with running_stack(stack_env, settings, tmp_path, append_only=True) as stack:
        yield stack


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault suite: from the fault's end to the campaign's end")
        for line in FIGURES:
            terminalreporter.write_line(line)
