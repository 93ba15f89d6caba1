"""[[webhooks]] entries of tenant.toml, and the retry policy."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import load_settings
from shared.webhooks.config import WebhookConfigError, WebhookEndpoint, parse_webhooks
from shared.webhooks.policy import DELIVERED, FAILED, RETRY, RetryPolicy, classify

SOURCE = "config/tenants/acme/tenant.toml"


def entry(**changes: Any) -> dict[str, Any]:
    base = {
        "id": "crm",
        "url": "https://crm.example.com/hooks/passwire",
        "events": ["pass.created", "pass.updated"],
        "secret_env": "ACME_WEBHOOK_SECRET",
    }
    return {**base, **changes}


def test_entries_become_endpoints() -> None:
    [crm, audit] = parse_webhooks(
        [entry(), entry(id="audit", url="http://127.0.0.1:9000/h", events=["*"])], SOURCE
    )
    assert crm == WebhookEndpoint(
        id="crm",
        url="https://crm.example.com/hooks/passwire",
        events=frozenset({"pass.created", "pass.updated"}),
        secret_env="ACME_WEBHOOK_SECRET",
    )
    assert crm.subscribes_to("pass.created")
    assert not crm.subscribes_to("pass.installed")
    assert audit.subscribes_to("operation.completed")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "ftp://crm.example.com/x"}, r"webhooks\[0\]\.url: Not a valid URL"),
        ({"events": ["pass.exploded"]}, r"webhooks\[0\]\.events: 0: Must be one of"),
        ({"events": []}, r"webhooks\[0\]\.events: Shorter than minimum length"),
        ({"events": ["*", "pass.created"]}, r"webhooks\[0\]\.events: \"\*\" already means"),
        ({"secret_env": "lower-case"}, r"webhooks\[0\]\.secret_env: String does not match"),
        ({"secret": "s3cr3t"}, r"webhooks\[0\]\.secret: Unknown field"),
        ({"id": "CRM!"}, r"webhooks\[0\]\.id: String does not match"),
    ],
)
def test_an_invalid_entry_names_file_and_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(WebhookConfigError, match=f"^{SOURCE}: {message}"):
        parse_webhooks([entry(**changes)], SOURCE)


def test_endpoint_ids_are_unique() -> None:
    with pytest.raises(WebhookConfigError, match=r"webhooks\[1\]\.id: 'crm' is used"):
        parse_webhooks([entry(), entry()], SOURCE)


def test_webhooks_must_be_an_array_of_tables() -> None:
    with pytest.raises(WebhookConfigError, match="must be an array"):
        parse_webhooks({"id": "crm"}, SOURCE)
    with pytest.raises(WebhookConfigError, match=r"webhooks\[0\]: must be a table"):
        parse_webhooks(["crm"], SOURCE)


def test_the_secret_comes_from_the_environment() -> None:
    [crm] = parse_webhooks([entry()], SOURCE)
    assert crm.secret({"ACME_WEBHOOK_SECRET": "s"}) == "s"
    assert crm.secret({}) is None


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, DELIVERED),
        (204, DELIVERED),
        (301, RETRY),
        (400, FAILED),
        (401, FAILED),
        (404, FAILED),
        (410, FAILED),
        (408, RETRY),
        (429, RETRY),
        (500, RETRY),
        (503, RETRY),
        (None, RETRY),
    ],
)
def test_answers_are_classified(status: int | None, verdict: str) -> None:
    assert classify(status) == verdict


def test_the_default_schedule_backs_off_to_an_hour() -> None:
    policy = RetryPolicy()
    delays = [policy.delay_after(attempt) for attempt in range(1, 8)]
    for delay, expected in zip(delays, [5, 30, 120, 600, 3600, 3600, 3600], strict=True):
        assert expected <= delay <= expected * 1.1


def test_retry_after_is_honoured_up_to_an_hour() -> None:
    policy = RetryPolicy(base_s=1)
    assert 90 <= policy.delay_after(1, retry_after_s=90) < 91
    assert policy.delay_after(1, retry_after_s=86_400) == 3600


def test_the_policy_comes_from_the_settings() -> None:
    environ = {"PASSWIRE_WEBHOOK_RETRY_BASE_S": "0.5", "PASSWIRE_WEBHOOK_MAX_ATTEMPTS": "3"}
    policy = RetryPolicy.from_settings(load_settings(environ))
    assert policy == RetryPolicy(base_s=0.5, max_attempts=3)
    with pytest.raises(ValueError, match="PASSWIRE_WEBHOOK_MAX_ATTEMPTS"):
        load_settings({"PASSWIRE_WEBHOOK_MAX_ATTEMPTS": "three"})
    with pytest.raises(ValueError, match="PASSWIRE_WEBHOOK_RETRY_BASE_S"):
        load_settings({"PASSWIRE_WEBHOOK_RETRY_BASE_S": "0"})
