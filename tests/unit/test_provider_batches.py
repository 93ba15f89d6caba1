"""External data providers' batch form: `[providers.batch]` validation, splitting a batch into
requests of at most `max_ids`, and mapping each answer back to its pass (against the fake CRM
in this process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dev.fake_crm import FakeCrm
from shared.providers.config import ProviderConfigError, parse_providers
from shared.providers.fetching import NOT_IN_BATCH_ANSWER, ExternalDataClient, Missing

SOURCE = "tenants/demo/tenant.toml"
ENV = {"CRM_URL": "https://crm.example.com"}


def batch(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "POST",
        "url": "$CRM_URL/customers/batch",
        "ids_body_field": "ids",
        "max_ids": 500,
        "answers": "customers",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def entry(base: str = "$CRM_URL", **form: Any) -> dict[str, Any]:
    return {
        "id": "crm",
        "url": f"{base}/customers/{{identifiers.crm}}",
        "fields": {"firstName": "first_name", "points": "loyalty.points"},
        "batch": batch(**{"url": f"{base}/customers/batch", **form}),
    }


# --- configuration ---------------------------------------------------------------------------


def test_a_batch_form_parses() -> None:
    (provider,) = parse_providers([entry()], SOURCE, environ=ENV)
    form = provider.batch
    assert form is not None
    assert (form.method, form.url) == ("POST", "https://crm.example.com/customers/batch")
    assert (form.ids_body_field, form.ids_query_param) == ("ids", None)
    assert (form.max_ids, form.answers_path, form.answer_key) == (500, ("customers",), None)
    assert form.timeout_s == provider.timeout_s  # the provider's, unless given


def test_a_query_parameter_form_with_keyed_list_and_its_own_timeout() -> None:
    (provider,) = parse_providers(
        [
            entry(
                method="GET",
                ids_body_field=None,
                ids_query_param="id",
                answers="",
                answer_key="customer.id",
                timeout_s=9.5,
            )
        ],
        SOURCE,
        environ=ENV,
    )
    form = provider.batch
    assert form is not None
    assert (form.ids_body_field, form.ids_query_param) == (None, "id")
    assert (form.answers_path, form.answer_key, form.timeout_s) == ((), ("customer", "id"), 9.5)


def test_a_provider_without_batch_form_has_none() -> None:
    plain = entry()
    del plain["batch"]
    (provider,) = parse_providers([plain], SOURCE, environ=ENV)
    assert provider.batch is None


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"method": "PUT"}, "providers[0].batch: method: Must be one of: GET, POST."),
        ({"method": None}, "providers[0].batch: method: Missing data"),
        ({"max_ids": None}, "providers[0].batch: max_ids: Missing data"),
        ({"max_ids": 0}, "providers[0].batch: max_ids: Must be greater than or equal to 1"),
        ({"max_ids": 1001}, "providers[0].batch: max_ids: Must be greater than or equal to 1"),
        ({"max_ids": "500"}, "providers[0].batch: max_ids: Not a valid integer."),
        ({"colour": "red"}, "providers[0].batch: colour: Unknown field."),
        ({"timeout_s": 31}, "providers[0].batch: timeout_s"),
        ({"url": "$NOT_SET_ANYWHERE/batch"}, "providers[0].batch.url: environment variable"),
        ({"url": "https://x.example.com/{identifiers.crm}"}, "batch.url: takes no placeholder"),
        ({"url": "/customers/batch"}, "providers[0].batch.url: must be an absolute http(s)"),
        ({"url": "ftp://x.example.com/batch"}, "providers[0].batch.url: must be an absolute"),
        ({"ids_body_field": None}, "batch.ids_body_field: give exactly one of ids_body_field"),
        ({"ids_query_param": "id"}, "batch.ids_body_field: give exactly one of ids_body_field"),
        ({"method": "GET"}, "providers[0].batch.ids_body_field: a JSON body needs method"),
        ({"answers": "a..b"}, "providers[0].batch.answers: 'a..b' is not a dotted JSON path"),
        ({"answer_key": "a..b"}, "providers[0].batch.answer_key: 'a..b' is not a dotted"),
    ],
)
def test_batch_form_errors_name_file_and_field(form: dict[str, Any], expected: str) -> None:
    provider = entry()
    provider["batch"] = batch(**{"url": "$CRM_URL/customers/batch", **form})
    with pytest.raises(ProviderConfigError) as raised:
        parse_providers([provider], SOURCE, environ=ENV)
    assert str(raised.value).startswith(f"{SOURCE}: ")
    assert expected in str(raised.value)


def test_a_batch_form_that_is_not_a_table_is_refused() -> None:
    provider = entry()
    provider["batch"] = "POST"
    with pytest.raises(ProviderConfigError, match=r"providers\[0\]\.batch: "):
        parse_providers([provider], SOURCE, environ=ENV)


# --- fetching --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm() -> Iterator[FakeCrm]:
    with FakeCrm() as fake:
        yield fake


@pytest.fixture
def fake(crm: FakeCrm) -> Iterator[FakeCrm]:
    crm.reset()
    for number in range(1, 13):
        crm.put_customer(f"C-{number}", {"first_name": f"N{number}", "loyalty": {"points": number}})
    yield crm
    crm.reset()


@pytest.fixture
def client() -> Iterator[ExternalDataClient]:
    made = ExternalDataClient(environ={})
    yield made
    made.close()


def documents(*numbers: int, pass_type: str = "member") -> list[dict[str, Any]]:
    return [
        {"_id": f"p-{n}", "passType": pass_type, "identifiers": {"crm": f"C-{n}"}} for n in numbers
    ]


def with_form(crm: FakeCrm, **form: Any) -> Any:
    return parse_providers([entry(base="$URL", **form)], SOURCE, environ={"URL": crm.url})


def test_a_batch_is_split_into_requests_of_at_most_max_ids(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    results = client.fetch_for_passes(with_form(fake, max_ids=5), documents(*range(1, 13)))
    assert sorted(fake.stats()["batch_sizes"]) == [2, 5, 5]
    assert fake.stats()["requests"] == 3  # no GET per pass
    assert {pass_id: result.data["points"] for pass_id, result in results.items()} == {
        f"p-{n}": n for n in range(1, 13)
    }
    assert results["p-7"].data == {"firstName": "N7", "points": 7}


def test_ids_a_batch_answer_lacks_fail_only_their_passes(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    fake.state.customers.pop("C-3")
    fake.put_customer("C-4", None)  # answered null: no record either
    results = client.fetch_for_passes(with_form(fake), documents(1, 2, 3, 4, 5))
    failed = {pass_id: result.error for pass_id, result in results.items() if result.error}
    reason = f"external data provider 'crm': {NOT_IN_BATCH_ANSWER}"
    assert failed == {"p-3": reason, "p-4": reason}
    assert [results[f"p-{n}"].data["points"] for n in (1, 2, 5)] == [1, 2, 5]
    assert fake.stats()["batch_sizes"] == [5]


def test_a_query_parameter_form_and_a_shared_identifier(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    providers = with_form(
        fake, method="GET", url="$URL/customers", ids_body_field=None, ids_query_param="id"
    )
    twins = [*documents(1, 2), {"_id": "p-twin", "passType": "x", "identifiers": {"crm": "C-1"}}]
    results = client.fetch_for_passes(providers, twins)
    assert fake.stats()["batch_sizes"] == [2]  # each identifier asked once
    assert results["p-twin"].data == results["p-1"].data == {"firstName": "N1", "points": 1}


def test_a_batch_request_that_fails_fails_each_of_its_passes(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    fake.configure(fail_ids=["C-2"])  # the fake then answers the whole request 503
    results = client.fetch_for_passes(with_form(fake, max_ids=2), documents(1, 2, 3))
    reason = "external data provider 'crm': answered HTTP 503"  # the last attempt's answer
    assert {p: r.error for p, r in results.items()} == {"p-1": reason, "p-2": reason, "p-3": None}
    assert results["p-3"].data["points"] == 3
    # The failing request was retried (urllib3's bounded retries), never split into GETs.
    assert sorted(fake.stats()["batch_sizes"]) == [1, 2, 2, 2]
    assert fake.stats()["requests"] == 4


def test_an_answer_without_the_answers_map_fails_its_passes(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    results = client.fetch_for_passes(with_form(fake, answers="clients"), documents(1))
    assert results["p-1"].error == (
        "external data provider 'crm': the batch answer has no map of answers at clients"
    )


def test_passes_without_the_identifier_are_skipped_not_asked(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    lacking = {"_id": "p-none", "passType": "member", "identifiers": {}}
    dots = {"_id": "p-dots", "passType": "member", "identifiers": {"crm": ".."}}
    results = client.fetch_for_passes(with_form(fake), [*documents(1), lacking, dots])
    assert fake.stats()["batch_sizes"] == [1]
    assert results["p-none"].skipped == results["p-dots"].skipped == ("crm",)
    assert results["p-none"].error is None


def test_only_pass_types_that_read_the_provider_are_asked(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    mixed = [*documents(1, 2), *documents(3, pass_type="plain")]
    results = client.fetch_for_passes(
        with_form(fake), mixed, needed_by_pass_type={"member": ["points"], "plain": []}
    )
    assert fake.stats()["batch_sizes"] == [2]
    assert results["p-1"].data == {"points": 1}  # only what the template reads
    assert results["p-3"].data == {}


def test_a_per_pass_provider_beside_a_batch_one_still_gets_one_get_per_pass(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    per_pass = {
        "id": "shop",
        "url": f"{fake.url}/customers/{{identifiers.crm}}",
        "fields": {"shopName": "first_name"},
    }
    providers = parse_providers([entry(base=fake.url), per_pass], SOURCE, environ={})
    results = client.fetch_for_passes(providers, documents(1, 2, 3))
    assert fake.stats()["batch_requests"] == 1
    assert fake.stats()["requests"] == 1 + 3
    assert results["p-2"].data == {"firstName": "N2", "points": 2, "shopName": "N2"}


def test_a_keyed_list_answer_is_mapped_by_its_key(client: ExternalDataClient) -> None:
    """A provider answering `[{"customer": {"id": …}, …}]` (served here by a stub answer)."""
    (provider,) = parse_providers(
        [entry(answers="", answer_key="customer.id", ids_body_field="ids")],
        SOURCE,
        environ=ENV,
    )
    assert provider.batch is not None
    records = [
        {"customer": {"id": "C-1"}, "first_name": "A", "loyalty": {"points": 1}},
        {"customer": {"id": 2}, "first_name": "B", "loyalty": {"points": 2}},
        {"customer": {}, "first_name": "nobody"},
    ]
    client._call = lambda *args, **kwargs: records  # type: ignore[method-assign]
    answers = client.fetch_batched((provider,), documents(1, 2, 3))
    assert answers[("crm", "C-1")]["first_name"] == "A"
    assert answers[("crm", "C-2")] == Missing(NOT_IN_BATCH_ANSWER)
    two = [{"_id": "p-2", "passType": "member", "identifiers": {"crm": 2}}]
    assert client.fetch_batched((provider,), two)[("crm", "2")]["first_name"] == "B"


def test_with_answers_serves_recorded_passes_and_fetches_the_others(
    fake: FakeCrm, client: ExternalDataClient
) -> None:
    providers = with_form(fake)
    answers = client.fetch_batched(providers, documents(1, 2))
    view = client.with_answers(answers)
    assert view.fetch_for_pass(providers, documents(2)[0]).data["points"] == 2
    assert fake.stats()["requests"] == 1
    assert view.fetch_for_pass(providers, documents(9)[0]).data["points"] == 9  # one GET
    assert fake.stats()["requests"] == 2
    assert client.fetch_for_pass(providers, documents(1)[0]).data["points"] == 1  # unchanged
    assert fake.stats()["requests"] == 3
