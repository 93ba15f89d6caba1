"""What the API tells a tenant about a connector definition it refuses: the loader's error
names the field (the 422's `field`), and a secret written into the TOML instead of an
environment variable's name is found before anything is stored."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from shared.connectors.config import ConnectorConfigError, inline_secret, parse_connector

WHERE = PurePosixPath("api/demo/connectors/tool.toml")
VALID = """
platform = "tool"
[auth]
scheme = "shared-secret"
secret_env = "TOOL_SECRET"
[action]
kind = "create"
query = '{"passType": "loyalty"}'
"""


def _outbound(url: str) -> str:
    return (
        VALID
        + f"""
[outbound]
url = "{url}"
events = ["pass.installed"]
secret_env = "TOOL_OUTBOUND_SECRET"
body = '{{"id": "{{{{ event.data.passId }}}}"}}'
"""
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (VALID.replace('"shared-secret"', '"basic"'), "auth.scheme"),
        (VALID.replace('"TOOL_SECRET"', '"TOOL_SECRET"\nsecret = "s3cr3t"'), "auth.secret"),
        (VALID.split('kind = "create"', maxsplit=1)[0] + 'kind = "update"\n', "action.query"),
        (VALID.replace('{"passType"', '{{ env.HOME }}{"passType"'), "action.query"),
        (VALID.replace('platform = "tool"\n', ""), "platform"),
        ("platform = ", "body"),
        (_outbound("ftp://tool.example/in"), "outbound.url"),
        (_outbound("https://tool.example/${UNSET_TOOL_URL_VARIABLE}"), "outbound.url"),
    ],
)
def test_an_invalid_definition_names_its_field(text: str, field: str) -> None:
    with pytest.raises(ConnectorConfigError) as refused:
        parse_connector("tool", text, WHERE, environ={})
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{WHERE}: ")


def test_a_valid_definition_loads_as_a_file_would() -> None:
    connector = parse_connector("tool", _outbound("https://tool.example/in"), WHERE, environ={})
    assert (connector.name, connector.platform, connector.action.kind) == ("tool", "tool", "create")
    assert connector.outbound is not None
    assert connector.outbound.id == "connector-tool"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@tool.example/in",
        "https://tool.example/in?api_key=abc123",
        "https://tool.example/in?a=1&token=abc123",
        "https://${TOOL_HOST:-admin:pw@tool.example}/in",
    ],
)
def test_a_secret_written_in_the_url_is_found(url: str) -> None:
    assert inline_secret(_outbound(url)) == "outbound.url"


@pytest.mark.parametrize(
    "url",
    [
        "https://tool.example/in",
        "https://tool.example/in?list=vip",
        "https://tool.example/in?token=${TOOL_TOKEN}",
        "https://${TOOL_CREDENTIALS}@tool.example/in",
        "${TOOL_URL}",
    ],
)
def test_environment_references_are_not_inline_secrets(url: str) -> None:
    assert inline_secret(_outbound(url)) is None


def test_a_definition_without_outbound_has_no_inline_secret() -> None:
    assert inline_secret(VALID) is None
