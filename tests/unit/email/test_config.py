"""The [smtp] table: defaults, $VARS, clear text only towards this machine, credentials by
environment variable name; every problem names the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG_DIR
from shared.email.config import EmailConfigError, MissingCredentials, parse_smtp
from shared.email.templates import EmailValues
from shared.tenancy.tenants import TenantConfigError, load_registry, load_tenant
from tests.unit.email.helpers import write_tenant

SOURCE = "acme/tenant.toml"
MINIMAL = {"host": "smtp.example.com", "from": "wallet@acme.example"}


def parse(environ: dict[str, str] | None = None, local_only: bool = False, **changes: Any) -> Any:
    entry = {k: v for k, v in {**MINIMAL, **changes}.items() if v is not None}
    return parse_smtp(entry, SOURCE, local_only=local_only, environ=environ or {})


def test_defaults_are_submission_with_starttls() -> None:
    smtp = parse()
    assert (smtp.host, smtp.port, smtp.security, smtp.timeout_s) == (
        "smtp.example.com",
        587,
        "starttls",
        10.0,
    )
    assert smtp.from_header == "wallet@acme.example"
    assert smtp.reply_to is None and smtp.credentials({}) is None


def test_every_key() -> None:
    smtp = parse(
        port=465,
        security="tls",
        username_env="ACME_SMTP_USER",
        password_env="ACME_SMTP_PASSWORD",
        reply_to="Acme Help <help@acme.example>",
        timeout_s=2.5,
        **{"from": '"Acme, Inc." <wallet@acme.example>'},
    )
    assert (smtp.port, smtp.security, smtp.timeout_s) == (465, "tls", 2.5)
    assert (smtp.sender_name, smtp.sender) == ("Acme, Inc.", "wallet@acme.example")
    assert smtp.from_header == '"Acme, Inc." <wallet@acme.example>'
    assert smtp.reply_to == "Acme Help <help@acme.example>"
    environ = {"ACME_SMTP_USER": "acme", "ACME_SMTP_PASSWORD": "s3cret"}
    assert smtp.credentials(environ) == ("acme", "s3cret")
    with pytest.raises(MissingCredentials, match="ACME_SMTP_PASSWORD is not set"):
        smtp.credentials({"ACME_SMTP_USER": "acme"})


@pytest.mark.parametrize(
    ("port", "environ", "expected"),
    [
        ("$SMTP_PORT", {"SMTP_PORT": "2526"}, 2526),
        ("${SMTP_PORT}", {"SMTP_PORT": "2526"}, 2526),
        ("${SMTP_PORT:-2525}", {"SMTP_PORT": "2526"}, 2526),
        ("${SMTP_PORT:-2525}", {}, 2525),
        ("${SMTP_PORT:-2525}", {"SMTP_PORT": ""}, 2525),
        ("25", {}, 25),
    ],
)
def test_host_and_port_expand_environment_variables(
    port: str, environ: dict[str, str], expected: int
) -> None:
    smtp = parse(
        environ={**environ, "SMTP_HOST": "mail.acme.example"}, host="$SMTP_HOST", port=port
    )
    assert (smtp.host, smtp.port) == ("mail.acme.example", expected)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"host": None}, r"smtp.host: Missing data"),
        ({"from": None}, r"smtp.from: Missing data"),
        ({"colour": "red"}, r"smtp.colour: Unknown field"),
        ({"security": "ssl"}, r"smtp.security: Must be one of"),
        ({"port": 0}, r"smtp.port: must be a port number"),
        ({"port": 70000}, r"smtp.port: must be a port number"),
        ({"port": True}, r"smtp.port: must be a port number"),
        ({"port": "smtp"}, r"smtp.port: must be a port number"),
        ({"port": "$SMTP_PORT"}, r"smtp.port: environment variable SMTP_PORT is not set"),
        ({"host": "${SMTP_HOST}"}, r"smtp.host: environment variable SMTP_HOST is not set"),
        ({"timeout_s": 0}, r"smtp.timeout_s: Must be greater than 0"),
        ({"timeout_s": 61}, r"smtp.timeout_s: Must be greater than 0 and less than or equal"),
        ({"username_env": "ACME_USER"}, r"smtp.password_env: username_env and password_env go"),
        ({"password_env": "secret value"}, r"smtp.password_env: must be an environment variable"),
        ({"from": "Acme"}, r"smtp.from: must be one address"),
        ({"from": "a@acme.example, b@acme.example"}, r"smtp.from: must be one address"),
        ({"reply_to": "help@localhost"}, r"smtp.reply_to: the part after @ must be a domain"),
        ({"security": "none"}, r'smtp.security: "none" is only allowed for a loopback host'),
    ],
)
def test_problems_name_the_file_and_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(EmailConfigError, match=rf"^{SOURCE}: {message}"):
        parse(**changes)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_clear_text_is_allowed_towards_this_machine(host: str) -> None:
    assert parse(host=host, security="none").security == "none"


def test_clear_text_is_allowed_for_a_local_only_tenant() -> None:
    assert parse(security="none", local_only=True).host == "smtp.example.com"


def test_smtp_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(TenantConfigError, match=r"tenant.toml: smtp: must be a table"):
        load_tenant(write_tenant(tmp_path, smtp_toml='smtp = "smtp.example.com"\n'))


def test_a_tenant_names_its_clear_text_server_only_on_loopback(tmp_path: Path) -> None:
    remote = '\n[smtp]\nhost = "mail.acme.example"\nsecurity = "none"\nfrom = "a@acme.example"\n'
    with pytest.raises(TenantConfigError, match=r"acme/tenant.toml: smtp.security"):
        load_tenant(write_tenant(tmp_path / "public", smtp_toml=remote))
    assert load_tenant(write_tenant(tmp_path / "local", smtp_toml=remote, local_only=True)).email


def test_the_demo_tenant_emails_through_the_local_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSWIRE_DEV_SMTP_PORT", raising=False)
    demo = load_registry(CONFIG_DIR / "tenants", include_local_only=True).get("demo")
    assert demo is not None and demo.email is not None
    assert (demo.email.smtp.host, demo.email.smtp.port) == ("127.0.0.1", 2525)
    assert sorted(demo.email.languages) == ["en", "fr"]
    values = EmailValues(demo.name, "loyalty card", "https://x.example/view?t=1", None)
    assert demo.email.languages["fr"].render(values).subject == "Votre carte Demo Coffee"
    monkeypatch.setenv("PASSWIRE_DEV_SMTP_PORT", "2600")
    demo = load_registry(CONFIG_DIR / "tenants", include_local_only=True).get("demo")
    assert demo is not None and demo.email is not None and demo.email.smtp.port == 2600
