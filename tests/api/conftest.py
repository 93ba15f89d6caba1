from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def cli_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads its settings from the environment, like every passwire process."""
    monkeypatch.setenv("MONGODB_URI", settings.mongodb_uri)
    monkeypatch.setenv("PASSWIRE_TENANTS_DIR", str(settings.tenants_dir))
    monkeypatch.setenv("PASSWIRE_ENV", "test")
