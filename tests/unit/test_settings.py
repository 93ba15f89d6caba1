import pytest

from config.settings import load_settings


def test_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGODB_URI", "REDIS_URL", "CELERY_BROKER_URL", "PASSWIRE_ENV", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017/passwire"
    assert settings.broker_url == settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.mongodb_database == "passwire"
    assert not settings.is_local  # production unless told otherwise


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.internal:27017/wallet?replicaSet=rs0")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setenv("PASSWIRE_ENV", "local")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.mongodb_database == "wallet"
    assert settings.broker_url == "redis://cache:6379/2"
    assert settings.log_level == "DEBUG"
    assert settings.is_local


def test_a_malformed_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSWIRE_MAX_REQUEST_BYTES", "lots")
    with pytest.raises(ValueError, match="PASSWIRE_MAX_REQUEST_BYTES"):
        load_settings()


def test_the_expiry_sweep_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSWIRE_EXPIRY_INTERVAL_S", raising=False)
    assert load_settings().expiry_interval_s == 60
    monkeypatch.setenv("PASSWIRE_EXPIRY_INTERVAL_S", "5")
    assert load_settings().expiry_interval_s == 5
    monkeypatch.setenv("PASSWIRE_EXPIRY_INTERVAL_S", "0")
    with pytest.raises(ValueError, match="PASSWIRE_EXPIRY_INTERVAL_S"):
        load_settings()
