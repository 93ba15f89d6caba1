"""The import limits are settings of their own, read from the environment."""

from __future__ import annotations

import pytest

from config.settings import load_settings


def test_import_limits_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSWIRE_MAX_IMPORT_BYTES", raising=False)
    monkeypatch.delenv("PASSWIRE_MAX_IMPORT_ROWS", raising=False)
    settings = load_settings()
    assert (settings.max_import_bytes, settings.max_import_rows) == (8 * 1024 * 1024, 100_000)
    assert settings.max_import_bytes > settings.max_request_bytes
    monkeypatch.setenv("PASSWIRE_MAX_IMPORT_BYTES", "1048576")
    monkeypatch.setenv("PASSWIRE_MAX_IMPORT_ROWS", "500")
    settings = load_settings()
    assert (settings.max_import_bytes, settings.max_import_rows) == (1_048_576, 500)


@pytest.mark.parametrize("name", ["PASSWIRE_MAX_IMPORT_BYTES", "PASSWIRE_MAX_IMPORT_ROWS"])
def test_a_limit_below_one_stops_the_process(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0")
    with pytest.raises(ValueError, match=name):
        load_settings()
