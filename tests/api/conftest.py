"""API tests check what a request queues, so their app sends jobs to a broker of its own (another
Redis database) that no worker consumes: the end-to-end tests' session worker, which consumes the
shared broker, can run before, after or between them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from config.settings import Settings
from tests.support.http_server import serving

API_TESTS_BROKER_DB = 15
# The live channel is on, so `/connect` answers its URL (minting one needs no server).
API_TESTS_LIVE_URL = "ws://127.0.0.1:9"


@pytest.fixture(scope="session")
def broker_url(redis_url: str) -> str:
    """The API tests' own broker: the session's Redis, another database."""
    return urlsplit(redis_url)._replace(path=f"/{API_TESTS_BROKER_DB}").geturl()


@pytest.fixture(scope="session")
def app(settings: Settings, broker_url: str) -> Any:
    from api.app import create_app

    return create_app(
        dataclasses.replace(settings, broker_url=broker_url, live_url=API_TESTS_LIVE_URL)
    )


@pytest.fixture(scope="session")
def api_url(app: Any) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture
def cli_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads its settings from the environment, like every passwire process."""
    monkeypatch.setenv("MONGODB_URI", settings.mongodb_uri)
    monkeypatch.setenv("PASSWIRE_TENANTS_DIR", str(settings.tenants_dir))
    monkeypatch.setenv("PASSWIRE_ENV", "test")
