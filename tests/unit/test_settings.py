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


def test_the_statistics_sweep_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSWIRE_STATS_RECONCILE_INTERVAL_S", raising=False)
    assert load_settings().stats_reconcile_interval_s == 600
    monkeypatch.setenv("PASSWIRE_STATS_RECONCILE_INTERVAL_S", "0")
    with pytest.raises(ValueError, match="PASSWIRE_STATS_RECONCILE_INTERVAL_S"):
        load_settings()


def test_the_expiry_sweep_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSWIRE_EXPIRY_INTERVAL_S", raising=False)
    assert load_settings().expiry_interval_s == 60
    monkeypatch.setenv("PASSWIRE_EXPIRY_INTERVAL_S", "5")
    assert load_settings().expiry_interval_s == 5
    monkeypatch.setenv("PASSWIRE_EXPIRY_INTERVAL_S", "0")
    with pytest.raises(ValueError, match="PASSWIRE_EXPIRY_INTERVAL_S"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PASSWIRE_CAMPAIGN_BATCH_SIZE", "0", "between 1 and 5000, got 0"),
        ("PASSWIRE_CAMPAIGN_BATCH_SIZE", "5001", "between 1 and 5000"),
        ("PASSWIRE_CAMPAIGN_BATCH_SIZE", "five hundred", "must be an integer"),
        ("PASSWIRE_CAMPAIGN_BATCH_SIZE", "1.5", "must be an integer"),
        ("PASSWIRE_CAMPAIGN_WINDOW", "0", "between 1 and 1000"),
        ("PASSWIRE_WEBHOOK_RETRY_BASE_S", "soon", "must be a number"),
        ("PASSWIRE_WEBHOOK_RETRY_BASE_S", "-1", "above 0"),
        ("PASSWIRE_WEBHOOK_MAX_ATTEMPTS", "0", "at least 1"),
        ("PASSWIRE_APPLE_MAX_REGISTRATIONS_PER_DEVICE", "0", "at least 1"),
        ("PASSWIRE_APPLE_MAX_DEVICES_PER_PASS", "0", "at least 1"),
        ("PASSWIRE_APPLE_PASS_REGISTRATION_RATE", "0", "at least 1"),
        ("PASSWIRE_APPLE_ADDRESS_LOG_RATE", "0", "at least 1"),
        ("PASSWIRE_TRUSTED_PROXY_HOPS", "-1", "at least 0"),
        ("APNS_PORT", "https", "must be an integer"),
    ],
)
def test_a_bad_value_stops_the_process_at_load(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=name) as raised:
        load_settings({name: value})
    assert message in str(raised.value)


def test_the_settings_moved_here_keep_their_defaults_and_read_their_variables() -> None:
    defaults = load_settings({})
    assert (defaults.campaign_batch_size, defaults.campaign_window) == (500, 4)
    assert (defaults.webhook_retry_base_s, defaults.webhook_max_attempts) == (5.0, 8)
    assert defaults.link_secret == ""
    settings = load_settings(
        {
            "PASSWIRE_CAMPAIGN_BATCH_SIZE": " 100 ",
            "PASSWIRE_CAMPAIGN_WINDOW": "2",
            "PASSWIRE_WEBHOOK_RETRY_BASE_S": "0.2",
            "PASSWIRE_LINK_SECRET": "s" * 40,
        }
    )
    assert (settings.campaign_batch_size, settings.campaign_window) == (100, 2)
    assert settings.webhook_retry_base_s == 0.2
    assert settings.link_secret == "s" * 40


def test_secrets_never_show_in_the_settings_repr() -> None:
    secrets = {"PASSWIRE_LINK_SECRET": "link-" + "s" * 40, "FLOWER_BASIC_AUTH": "ops:hunter2"}
    shown = repr(load_settings(secrets))
    assert "redis_url=" in shown  # the repr is there, only without the secrets
    assert "link-sss" not in shown and "hunter2" not in shown


def test_the_apple_device_limits() -> None:
    defaults = load_settings({})
    assert (defaults.apple_max_devices_per_pass, defaults.trusted_proxy_hops) == (20, 0)
    settings = load_settings(
        {"PASSWIRE_APPLE_MAX_DEVICES_PER_PASS": "5", "PASSWIRE_TRUSTED_PROXY_HOPS": "1"}
    )
    assert (settings.apple_max_devices_per_pass, settings.trusted_proxy_hops) == (5, 1)
