"""External data providers: `[[providers]]` parsing, URLs, field mapping and fetching (against
the fake CRM in this process)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dev.fake_crm import FakeCrm
from shared.providers.config import ProviderConfigError, parse_providers
from shared.providers.fetching import (
    MAX_ANSWER_BYTES,
    ExternalDataClient,
    extract,
    providers_for,
)

SOURCE = "tenants/demo/tenant.toml"
TOKEN = "Bearer crm-secret-token-123"
ENV = {"CRM_URL": "https://crm.example.com", "CRM_TOKEN": TOKEN}


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "crm",
        "url": "$CRM_URL/customers/{identifiers.crm}",
        "auth_header": "Authorization",
        "auth_env": "CRM_TOKEN",
        "timeout_s": 2.0,
        "fields": {"firstName": "first_name", "points": "loyalty.points"},
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def parse(*entries: dict[str, Any], **kwargs: Any) -> Any:
    return parse_providers(list(entries), SOURCE, environ=ENV, **kwargs)


# --- configuration ---------------------------------------------------------------------------


def test_a_provider_parses_with_its_variables_expanded() -> None:
    (provider,) = parse(entry(pass_types=["member"]))
    assert provider.id == "crm"
    assert provider.url_template == "https://crm.example.com/customers/{identifiers.crm}"
    assert provider.identifier == "crm"
    assert (provider.auth_header, provider.auth_env) == ("Authorization", "CRM_TOKEN")
    assert provider.timeout_s == 2.0
    assert dict(provider.fields) == {"firstName": "first_name", "points": "loyalty.points"}
    assert provider.pass_types == frozenset({"member"})
    assert provider.applies_to("member") and not provider.applies_to("loyalty")


def test_defaults_no_auth_every_pass_type() -> None:
    (provider,) = parse(entry(auth_header=None, auth_env=None, timeout_s=None))
    assert provider.auth_header is None and provider.auth_value() is None
    assert provider.timeout_s == 2.0
    assert provider.pass_types is None and provider.applies_to("anything")


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({"id": "crm"}, "providers: must be an array of tables"),
        (["nope"], "providers[0]: must be a table"),
        ([entry(colour="red")], "providers[0].colour: Unknown field."),
        ([entry(fields=None)], "providers[0].fields: Missing data"),
        ([entry(fields={})], "providers[0].fields: Shorter than minimum length 1."),
        ([entry(id="Bad Id")], "providers[0].id: String does not match"),
        ([entry(timeout_s=0)], "providers[0].timeout_s: Must be greater than 0"),
        ([entry(timeout_s=31)], "providers[0].timeout_s"),
        ([entry(url="$NOT_SET_ANYWHERE/c/{identifiers.crm}")], "NOT_SET_ANYWHERE is not set"),
        ([entry(url="https://crm.example.com/customers")], "must name exactly one identifier"),
        (
            [entry(url="https://x.example.com/{identifiers.crm}/{identifiers.y2}")],
            "must name exactly one identifier",
        ),
        ([entry(url="https://x.example.com/{identifiers.crm}/{other}")], "only {identifiers"),
        ([entry(url="https://{identifiers.crm}.example.com/c")], "path or the query"),
        ([entry(url="ftp://x.example.com/{identifiers.crm}")], "absolute http(s) URL"),
        ([entry(url="/customers/{identifiers.crm}")], "path or the query"),
        ([entry(auth_env=None)], "providers[0].auth_env: auth_header and auth_env go together"),
        ([entry(auth_header=None)], "providers[0].auth_header: auth_header and auth_env go"),
        ([entry(auth_env="lower")], "providers[0].auth_env: String does not match"),
        ([entry(fields={"9lives": "a"})], "providers[0].fields.9lives: is not a name"),
        ([entry(fields={"points": "a..b"})], "providers[0].fields.points: 'a..b' is not a dotted"),
        (
            [entry(), entry(fields={"other": "x"})],
            "providers[1].id: 'crm' is used by another provider",
        ),
        (
            [entry(), entry(id="shop", fields={"points": "balance"})],
            "providers[1].fields.points: provider 'crm' already maps 'points'",
        ),
        ([entry(pass_types=[])], "providers[0].pass_types: Shorter than minimum length 1."),
    ],
)
def test_configuration_errors_name_file_and_field(entries: Any, expected: str) -> None:
    with pytest.raises(ProviderConfigError) as raised:
        parse_providers(entries, SOURCE, environ=ENV)
    assert str(raised.value).startswith(f"{SOURCE}: ")
    assert expected in str(raised.value)


def test_pass_types_must_exist_when_known() -> None:
    with pytest.raises(
        ProviderConfigError, match=r"providers\[0\]\.pass_types: unknown pass types \['ghost'\]"
    ):
        parse(entry(pass_types=["member", "ghost"]), known_pass_types={"member", "loyalty"})
    assert parse(entry(pass_types=["member"]), known_pass_types={"member"})


def test_the_auth_value_is_never_in_configuration() -> None:
    (provider,) = parse(entry())
    assert TOKEN not in repr(provider)
    assert provider.auth_value(ENV) == TOKEN
    assert provider.auth_value({}) is None


# --- URLs and mapping --------------------------------------------------------------------------


def test_identifiers_are_percent_encoded_in_the_url() -> None:
    (provider,) = parse(
        entry(url="https://crm.example.com/c/{identifiers.crm}?again={identifiers.crm}")
    )
    url = provider.build_url({"crm": "C 1/2?x=&y#é"})
    encoded = "C%201%2F2%3Fx%3D%26y%23%C3%A9"
    assert url == f"https://crm.example.com/c/{encoded}?again={encoded}"
    assert provider.build_url({"crm": 1233332}) == "https://crm.example.com/c/1233332?again=1233332"


def test_nested_identifiers() -> None:
    (provider,) = parse(entry(url="https://crm.example.com/c/{identifiers.y2.customerId}"))
    assert provider.identifier == "y2.customerId"
    assert provider.build_url({"y2": {"customerId": "42"}}) == "https://crm.example.com/c/42"
    assert provider.build_url({"y2": "42"}) is None


@pytest.mark.parametrize(
    "identifiers", [{}, {"other": "1"}, {"crm": ""}, {"crm": None}, {"crm": True}, {"crm": {}}]
)
def test_a_pass_without_the_identifier_gets_no_url(identifiers: dict[str, Any]) -> None:
    (provider,) = parse(entry())
    assert provider.build_url(identifiers) is None


def test_extract_dotted_paths() -> None:
    answer = {"customer": {"first_name": "Ada", "cards": [{"id": "x"}]}, "zero": 0}
    assert extract(answer, "customer.first_name") == (True, "Ada")
    assert extract(answer, "customer.cards.0.id") == (True, "x")
    assert extract(answer, "zero") == (True, 0)
    assert extract(answer, "customer.cards.1.id") == (False, None)
    assert extract(answer, "customer.last_name") == (False, None)
    assert extract(answer, "zero.deeper") == (False, None)
    assert extract([1], "0") == (True, 1)


def test_providers_for_a_pass_type_and_needed_names() -> None:
    crm, shop = parse(
        entry(pass_types=["member"]),
        entry(id="shop", url="https://s.example.com/{identifiers.crm}", fields={"orders": "n"}),
    )
    assert providers_for((crm, shop), "member") == (crm, shop)
    assert providers_for((crm, shop), "loyalty") == (shop,)
    assert providers_for((crm, shop), "member", needed={"points"}) == (crm,)
    assert providers_for((crm, shop), "member", needed=()) == ()


# --- fetching ----------------------------------------------------------------------------------

SECRET_ID = "C-SECRET/4711"


@pytest.fixture(scope="module")
def crm() -> Iterator[FakeCrm]:
    with FakeCrm(token="crm-secret-token-123") as server:
        yield server


@pytest.fixture
def fake(crm: FakeCrm) -> Iterator[FakeCrm]:
    crm.reset()
    crm.put_customer(SECRET_ID, {"first_name": "Ada", "loyalty": {"points": 120}})
    yield crm
    crm.reset()


@pytest.fixture
def client() -> Iterator[ExternalDataClient]:
    made = ExternalDataClient(environ={"CRM_TOKEN": TOKEN})
    yield made
    made.close()


def providers(crm: FakeCrm, **overrides: Any) -> Any:
    values = {"url": f"{crm.url}/customers/{{identifiers.crm}}", **overrides}
    return parse_providers([entry(**values)], SOURCE, environ={})


def pass_document(crm_id: Any = SECRET_ID, pass_type: str = "member") -> dict[str, Any]:
    identifiers = {} if crm_id is None else {"crm": crm_id}
    return {"_id": f"p-{crm_id}", "passType": pass_type, "identifiers": identifiers}


def test_fetch_maps_fields(fake: FakeCrm, client: ExternalDataClient) -> None:
    result = client.fetch_for_pass(providers(fake), pass_document())
    assert result.data == {"firstName": "Ada", "points": 120}
    assert result.error is None and not result.errors and result.skipped == ()


def test_a_missing_field_is_absent_not_an_error(fake: FakeCrm, client: ExternalDataClient) -> None:
    fake.put_customer(SECRET_ID, {"first_name": "Ada"})
    result = client.fetch_for_pass(providers(fake), pass_document())
    assert result.data == {"firstName": "Ada"}
    assert result.error is None


def test_needed_names_only(fake: FakeCrm, client: ExternalDataClient) -> None:
    result = client.fetch_for_pass(providers(fake), pass_document(), needed=("points",))
    assert result.data == {"points": 120}
    before = fake.state.requests
    assert client.fetch_for_pass(providers(fake), pass_document(), needed=("x",)).data == {}
    assert fake.state.requests == before  # no provider maps it: no call


def test_a_pass_without_the_identifier_is_skipped(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    result = client.fetch_for_pass(providers(fake), pass_document(crm_id=None))
    assert result.data == {} and result.error is None
    assert result.skipped == ("crm",)
    assert fake.state.requests == 0


def test_other_pass_types_are_not_served(fake: FakeCrm, client: ExternalDataClient) -> None:
    configured = providers(fake, pass_types=["member"])
    result = client.fetch_for_pass(configured, pass_document(pass_type="loyalty"))
    assert result == type(result)()
    assert fake.state.requests == 0


def _failure(fake: FakeCrm, client: ExternalDataClient, **overrides: Any) -> str:
    result = client.fetch_for_pass(providers(fake, **overrides), pass_document())
    assert result.data == {}
    assert result.error is not None
    return result.error


def test_not_found(fake: FakeCrm, client: ExternalDataClient) -> None:
    fake.reset()
    assert _failure(fake, client) == "external data provider 'crm': customer not found"


def test_an_error_answer_does_not_spoil_the_kept_alive_connection(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    """A 404's body is read off the connection: the next call on it is sent once, and answered
    with its own answer (an unread body would be taken for the next status line)."""
    found, missing = providers(fake), providers(fake)
    for _ in range(3):
        assert client.fetch_for_pass(missing, pass_document("C-404")).error == (
            "external data provider 'crm': customer not found"
        )
        assert client.fetch_for_pass(found, pass_document()).data["points"] == 120
    assert fake.state.requests == 6


def test_an_auth_value_that_cannot_be_sent_fails_the_pass_without_showing_it(
    fake: FakeCrm, caplog: pytest.LogCaptureFixture
) -> None:
    broken = ExternalDataClient(environ={"CRM_TOKEN": TOKEN + "\n"})  # a secret file's newline
    reason = _failure(fake, broken)
    assert reason == (
        "external data provider 'crm': request failed "
        "(the auth header's value or the URL cannot be sent)"
    )
    assert "crm-secret" not in reason and "crm-secret" not in caplog.text
    broken.close()


def test_5xx_is_retried_a_bounded_number_of_times(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    fake.configure(fail_ids=[SECRET_ID])
    assert _failure(fake, client) == "external data provider 'crm': answered HTTP 503"
    assert fake.state.requests == 3  # 1 + 2 retries


def test_a_flaky_crm_is_retried(fake: FakeCrm, client: ExternalDataClient) -> None:
    fake.configure(failure_rate=0.5)
    fake.state.rng.seed(7)
    results = [client.fetch_for_pass(providers(fake), pass_document()) for _ in range(20)]
    assert sum(result.error is None for result in results) >= 15  # 0.5³ fail after retries
    assert fake.state.failures > 0


def test_timeout(fake: FakeCrm, client: ExternalDataClient) -> None:
    fake.configure(latency_ms=400)
    started = time.monotonic()
    reason = _failure(fake, client, timeout_s=0.1)
    assert reason == "external data provider 'crm': timed out (timeout_s = 0.1)"
    assert time.monotonic() - started < 2.0  # bounded: 3 attempts of 0.1 s and backoff


def test_refused_credentials(fake: FakeCrm) -> None:
    wrong = ExternalDataClient(environ={"CRM_TOKEN": "Bearer wrong"})
    reason = _failure(fake, wrong)
    assert reason == "external data provider 'crm': refused the credentials (HTTP 401)"
    missing = ExternalDataClient(environ={})
    assert _failure(fake, missing).endswith("environment variable CRM_TOKEN is not set")


def test_connection_refused(client: ExternalDataClient) -> None:
    with FakeCrm() as gone:
        url = f"{gone.url}/customers/{{identifiers.crm}}"
    (provider,) = parse_providers([entry(url=url)], SOURCE, environ={})
    result = client.fetch_for_pass((provider,), pass_document())
    assert result.error == "external data provider 'crm': cannot connect"


@pytest.fixture
def not_json() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>oops " + self.path.encode() + b"</html>"
            if self.path.startswith("/huge/"):  # valid JSON, one byte over the bound
                body = b'"' + b"x" * (MAX_ANSWER_BYTES - 1) + b'"'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_invalid_json(not_json: str, client: ExternalDataClient) -> None:
    (provider,) = parse_providers(
        [entry(url=f"{not_json}/c/{{identifiers.crm}}")], SOURCE, environ={}
    )
    result = client.fetch_for_pass((provider,), pass_document())
    assert result.error == "external data provider 'crm': the answer is not valid JSON"


def test_an_oversize_answer_fails_the_pass_and_the_next_call_works(
    not_json: str, client: ExternalDataClient
) -> None:
    (huge,) = parse_providers(
        [entry(url=f"{not_json}/huge/{{identifiers.crm}}")], SOURCE, environ={}
    )
    result = client.fetch_for_pass((huge,), pass_document())
    assert result.error == (
        f"external data provider 'crm': the answer is larger than {MAX_ANSWER_BYTES} bytes"
    )
    (small,) = parse_providers([entry(url=f"{not_json}/c/{{identifiers.crm}}")], SOURCE, environ={})
    assert client.fetch_for_pass((small,), pass_document()).error == (
        "external data provider 'crm': the answer is not valid JSON"  # answered, not stuck
    )


def test_errors_and_logs_never_show_identifier_token_or_url(
    fake: FakeCrm, client: ExternalDataClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3's request and retry lines too
    texts: list[str] = []
    fake.reset()
    texts.append(_failure(fake, client))
    fake.configure(fail_ids=[SECRET_ID])
    texts.append(_failure(fake, client))
    fake.configure(fail_ids=[], latency_ms=300)
    texts.append(_failure(fake, client, timeout_s=0.05))
    texts.append(_failure(fake, ExternalDataClient(environ={"CRM_TOKEN": "Bearer wrong"})))
    for text in texts:
        assert fake.url not in text
    # urllib3 logs the host of each connection, never the path with the identifier.
    assert "<path redacted>" in caplog.text
    texts.append(caplog.text)
    for text in texts:
        for secret in (SECRET_ID, "SECRET", "4711", TOKEN, "crm-secret-token", "/customers/"):
            assert secret not in text, (secret, text)


def test_batches_fetch_concurrently_with_a_bound(fake: FakeCrm, client: ExternalDataClient) -> None:
    documents = [pass_document(crm_id=f"C-{n}") for n in range(16)]
    for n in range(16):
        fake.put_customer(f"C-{n}", {"first_name": f"N{n}", "loyalty": {"points": n}})
    fake.put_customer("C-3", [])  # an answer without the mapped fields
    fake.configure(latency_ms=100)
    started = time.monotonic()
    results = client.fetch_for_passes(providers(fake), documents, max_concurrency=8)
    elapsed = time.monotonic() - started
    assert elapsed < 1.2  # 16 x 0.1 s one at a time; two waves of 8 here
    assert elapsed >= 0.2  # never more than 8 at once
    assert results["p-C-5"].data == {"firstName": "N5", "points": 5}
    assert results["p-C-3"].data == {} and results["p-C-3"].error is None
    assert len(results) == 16


def test_batches_by_pass_type_needs(fake: FakeCrm, client: ExternalDataClient) -> None:
    documents = [pass_document(), pass_document(pass_type="loyalty")]
    documents[1]["_id"] = "p-loyalty"
    results = client.fetch_for_passes(
        providers(fake), documents, needed_by_pass_type={"member": ("points",)}
    )
    assert results[f"p-{SECRET_ID}"].data == {"points": 120}
    assert results["p-loyalty"].data == {}
    assert fake.state.requests == 1
