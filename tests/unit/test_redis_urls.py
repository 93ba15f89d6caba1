"""Sentinel URLs in REDIS_URL and CELERY_BROKER_URL (config/redis_urls.py): what a good one
means, the broker configuration kombu gets from it, and a clear start-up error naming the
setting for a bad one."""

from __future__ import annotations

import pytest
from redis.sentinel import SentinelConnectionPool

from config.celery import celery_config
from config.redis_urls import SentinelTarget, kombu_broker_url, parse_sentinel_url
from config.settings import load_settings
from shared.infra.redis_clients import connect


def test_a_sentinel_url_names_the_sentinels_the_master_set_and_the_database() -> None:
    target = parse_sentinel_url("sentinel://s1:26380,10.0.0.2,[::1]:26381/cache/2", "REDIS_URL")
    assert target == SentinelTarget(
        sentinels=(("s1", 26380), ("10.0.0.2", 26379), ("::1", 26381)), master="cache", db=2
    )


def test_the_masters_credentials_come_from_the_url_percent_decoded() -> None:
    target = parse_sentinel_url("sentinel://app:p%40ss%3Aword@s1/mymaster", "REDIS_URL")
    assert target is not None
    assert (target.username, target.password, target.db) == ("app", "p@ss:word", 0)
    only_password = parse_sentinel_url("sentinel://:secret@s1:26379/mymaster/0", "REDIS_URL")
    assert only_password is not None
    assert (only_password.username, only_password.password) == (None, "secret")


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://:pw@cache:6380/1", "unix:///run/redis.sock"]
)
def test_a_single_servers_url_is_no_sentinel_target(url: str) -> None:
    assert parse_sentinel_url(url, "REDIS_URL") is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sentinel://s1:26379,s2:26379", "names its master set"),
        ("sentinel://s1:26379/", "names its master set"),
        ("sentinel://s1:26379/mymaster/0/extra", "names its master set"),
        ("sentinel://s1:26379/mymaster/zero", "database must be a number"),
        ("sentinel://s1:port/mymaster", "bad sentinel address 's1:port'"),
        ("sentinel://s1:99999/mymaster", "bad sentinel address"),
        ("sentinel://s1:26379,,s2/mymaster", "empty sentinel address"),
        ("sentinel:///mymaster", "empty sentinel address"),
        ("sentinel://s1/mymaster?db=1", "no query"),
        ("redis-sentinel://s1:26379/mymaster", "must start with one of"),
        ("s1:26379", "must start with one of"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_setting(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_sentinel_url(url, "CELERY_BROKER_URL")
    assert str(raised.value).startswith("CELERY_BROKER_URL")


def test_an_error_never_shows_the_password() -> None:
    with pytest.raises(ValueError) as raised:
        parse_sentinel_url("amqp://user:hunter2@broker:5672//", "REDIS_URL")
    assert "hunter2" not in str(raised.value)
    assert "amqp://broker:5672//" in str(raised.value)


def test_settings_refuse_a_bad_url_at_start_up_naming_the_variable() -> None:
    with pytest.raises(ValueError, match=r"^REDIS_URL: .*master set"):
        load_settings({"REDIS_URL": "sentinel://s1:26379"})
    with pytest.raises(ValueError, match=r"^CELERY_BROKER_URL: .*must be a number"):
        load_settings({"CELERY_BROKER_URL": "sentinel://s1/mymaster/x"})


def test_kombu_gets_one_url_per_sentinel_and_the_master_set_as_a_transport_option() -> None:
    settings = load_settings(
        {
            "REDIS_URL": "sentinel://:m%40ster@s1:26380,s2/passwire/3",
            "REDIS_SENTINEL_PASSWORD": "sentinel-secret",
        }
    )
    config = celery_config(settings)
    expected = "sentinel://:m%40ster@s1:26380/3;sentinel://:m%40ster@s2:26379/3"
    # Read and write URLs too: Celery prefers CELERY_BROKER_URL from the environment to
    # `broker_url`, and kombu cannot read our form of a Sentinel URL.
    assert config["broker_url"] == config["broker_read_url"] == config["broker_write_url"]
    assert config["broker_url"] == expected
    options = config["broker_transport_options"]
    assert options["master_name"] == "passwire"
    assert options["sentinel_kwargs"]["password"] == "sentinel-secret"
    assert options["visibility_timeout"] == settings.broker_visibility_timeout
    assert "sentinel-secret" not in repr(settings)


def test_a_single_servers_broker_url_goes_to_kombu_unchanged() -> None:
    config = celery_config(load_settings({"REDIS_URL": "redis://cache:6379/2"}))
    assert config["broker_url"] == config["broker_write_url"] == "redis://cache:6379/2"
    assert "master_name" not in config["broker_transport_options"]


def test_kombu_urls_bracket_ipv6_sentinels() -> None:
    target = SentinelTarget(sentinels=(("::1", 26379),), master="m", db=0)
    assert kombu_broker_url(target) == "sentinel://[::1]:26379/0"


def test_the_factory_makes_a_sentinel_managed_client_for_a_sentinel_url() -> None:
    client = connect("sentinel://:m%40ster@s1:26380,s2/passwire/3", sentinel_password="sp")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "passwire"
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (3, "m@ster")
    sentinels = pool.sentinel_manager.sentinels
    kwargs = [sentinel.connection_pool.connection_kwargs for sentinel in sentinels]
    assert [(item["host"], item["port"]) for item in kwargs] == [("s1", 26380), ("s2", 26379)]
    assert {item["password"] for item in kwargs} == {"sp"}


def test_the_factory_names_the_setting_of_a_bad_url() -> None:
    with pytest.raises(ValueError, match=r"^CELERY_BROKER_URL: "):
        connect("sentinel://s1:26379", setting="CELERY_BROKER_URL")
