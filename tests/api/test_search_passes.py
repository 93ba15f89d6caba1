"""`GET /api/<tenantId>/passes`: filters, sorts and pages over a few thousand passes, checked
against the same search done in Python; bad parameters are refused naming them.

The passes are inserted directly and carry a unique `metadata.batch`, which every search
filters on, so passes other tests create never interfere."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.passes import search
from shared.repositories.indexes import ensure_indexes
from tests.conftest import DEMO_KEY, RIVAL_KEY

DEMO_PASSES = 3000
RIVAL_PASSES = 300
PASS_TYPES = ("loyalty", "coupon", "ticket")
BASE = datetime(2024, 3, 1)
MISSING: Any = object()
Params = list[tuple[str, str]]


@dataclass(frozen=True)
class Batch:
    tag: str  # metadata.batch of every pass inserted
    demo: list[dict[str, Any]]
    rival: list[dict[str, Any]]


def _make_pass(rng: random.Random, tenant: str, tag: str, number: int) -> dict[str, Any]:
    identifiers: dict[str, Any] = {}
    if rng.random() < 0.8:
        identifiers["crm"] = f"C-{rng.randrange(300)}"
    if rng.random() < 0.4:
        identifiers["y2"] = {"customerId": str(rng.randrange(60))}
    metadata: dict[str, Any] = {"batch": tag}
    # Strings and numbers mixed: metadata.store=42 must find "42", 42 and 42.0, not "x42".
    store = rng.choice(["42", 42, 42.0, "7", 7, "x42", MISSING])
    if store is not MISSING:
        metadata["store"] = store
    tier = rng.choice(["gold", "silver", "bronze", MISSING])
    if tier is not MISSING:
        metadata["tier"] = tier
    rank = rng.choice([*range(40), 2.5, "n/a", None, MISSING, MISSING])
    if rank is not MISSING:
        metadata["rank"] = rank
    if rng.random() < 0.5:
        metadata["geo"] = {"region": rng.choice(["north", "south"])}
    providers: dict[str, Any] = {}
    for wallet in ("apple", "google"):
        state = rng.random()
        if state < 0.45:
            providers[wallet] = {"installedAt": BASE + timedelta(hours=rng.randrange(400))}
        elif state < 0.9:
            providers[wallet] = None  # 10% have no such key at all: not installed either
    created = BASE + timedelta(minutes=rng.randrange(600))  # many equal: ties need the id
    document = {
        "_id": "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(22)),
        "tenant": tenant,
        "passType": rng.choice(PASS_TYPES),
        "authenticationToken": f"secret-{number}",
        "identifiers": identifiers,
        "metadata": metadata,
        "additionalData": {"points": number},
        "providers": providers,
        "status": "active",
        "version": 1,
        "apple": {"passJson": b"{}", "updateTag": number},
        "createdAt": created,
        "updatedAt": created + timedelta(minutes=rng.randrange(3) * rng.randrange(300)),
    }
    if rng.random() < 0.05:
        del document["providers"]  # older passes: installed nowhere
    return document


@pytest.fixture(scope="module")
def batch(db: Any) -> Iterator[Batch]:
    ensure_indexes(db)  # workers create them at start-up; these tests run no worker
    rng = random.Random(20240301)
    tag = uuid.uuid4().hex
    demo = [_make_pass(rng, "demo", tag, n) for n in range(DEMO_PASSES)]
    rival = [_make_pass(rng, "rival", tag, n) for n in range(RIVAL_PASSES)]
    db.passes.insert_many([*demo, *rival])
    yield Batch(tag, demo, rival)
    db.passes.delete_many({"metadata.batch": tag})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def _search(client: Any, params: Params, tenant: str = "demo", key: str = DEMO_KEY) -> Any:
    return client.get(f"/api/{tenant}/passes", query_string=params, headers={"X-API-Key": key})


def _fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.get_data(as_text=True)
    return {error["field"]: error["reason"] for error in response.get_json()["errors"]}


# -- the expected answer, computed in Python ---------------------------------------------------


def _at(document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _matches(document: dict[str, Any], params: Params) -> bool:
    wanted: dict[str, list[str]] = {}
    for name, value in params:
        wanted.setdefault(name, []).append(value)
    for name, values in wanted.items():
        if name == "passType":
            ok = document["passType"] in values
        elif name in ("apple", "google"):
            installed = _at(document, f"providers.{name}") not in (None, MISSING)
            ok = installed == (values[0] == "installed")
        elif name.startswith("identifiers."):
            ok = _at(document, name) in values
        elif name.startswith("metadata."):
            value = _at(document, name)
            numbers = [n for n in map(_as_number, values) if n is not None]
            ok = (isinstance(value, str) and value in values) or (
                _is_number(value) and value in numbers
            )
        else:
            continue  # sort, pageIndex, pageSize
        if not ok:
            return False
    return True


def _bson_order(value: Any) -> tuple[int, Any]:
    """MongoDB's order for the types these passes hold: missing = null < numbers < strings
    < dates."""
    if value is MISSING or value is None:
        return (0, 0)
    if _is_number(value):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, datetime):
        return (3, value)
    raise AssertionError(f"no order for {value!r}")


def _expected(documents: list[dict[str, Any]], params: Params) -> list[str]:
    found = [document for document in documents if _matches(document, params)]
    keys: list[tuple[str, bool]] = []
    raw = dict(params).get("sort")
    for item in raw.split(",") if raw else []:
        name = item.lstrip("-")
        path = {
            "id": "_id",
            "creationDate": "createdAt",
            "lastUpdateDate": "updatedAt",
            "apple": "providers.apple.installedAt",
            "google": "providers.google.installedAt",
        }.get(name, name)
        keys.append((path, item.startswith("-")))
    if "_id" not in [path for path, _ in keys]:
        keys.append(("_id", keys[-1][1] if keys else False))
    for path, descending in reversed(keys):  # stable sorts, least significant key first
        found.sort(key=lambda document: _bson_order(_at(document, path)), reverse=descending)
    return [document["_id"] for document in found]


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()]


def _check_pages(
    client: Any, batch: Batch, params: Params, size: int, middle: bool = True
) -> list[str]:
    """The first, a middle and the last page of the search match the expectation; the ids."""
    query = [("metadata.batch", batch.tag), *params]
    expected = _expected(batch.demo, query)
    last = max((len(expected) - 1) // size, 0)
    for index in sorted({0, last // 2 if middle else 0, last}):
        response = _search(client, [*query, ("pageSize", str(size)), ("pageIndex", str(index))])
        assert _ids(response) == expected[index * size : (index + 1) * size], (params, index)
        assert response.headers["x-pagination-total"] == str(len(expected))
    return expected


# -- filters and sorts -------------------------------------------------------------------------

NO_MATCH: Params = [("metadata.tier", "platinum")]
FILTERS: list[Params] = [
    [],
    [("identifiers.crm", "C-5")],
    [("identifiers.crm", "C-1"), ("identifiers.crm", "C-2"), ("identifiers.crm", "C-250")],
    [("identifiers.y2.customerId", "7")],
    [("identifiers.crm", "C-8"), ("identifiers.y2.customerId", "51")],
    [("metadata.store", "42")],
    [("metadata.store", "7"), ("metadata.store", "x42")],
    [("metadata.rank", "2.5")],
    [("metadata.rank", "n/a")],
    [("metadata.geo.region", "north"), ("metadata.tier", "gold")],
    [("passType", "loyalty")],
    [("passType", "loyalty"), ("passType", "coupon")],
    [("apple", "installed")],
    [("apple", "notInstalled"), ("google", "installed")],
    [("passType", "coupon"), ("apple", "installed"), ("metadata.tier", "silver")],
    NO_MATCH,
]

SORTS = [
    None,
    "id",
    "-id",
    "passType",
    "-creationDate",
    "lastUpdateDate",
    "-lastUpdateDate,id",
    "metadata.rank",  # missing and null first, then numbers, then "n/a"
    "-metadata.rank",
    "identifiers.crm,-creationDate",
    "identifiers.y2.customerId",
    "apple",
    "-google,passType",
    "metadata.tier,-metadata.rank,passType",
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f))
def test_filters(client: Any, batch: Batch, filters: Params) -> None:
    expected = _check_pages(client, batch, [*filters, ("sort", "-lastUpdateDate")], size=40)
    assert len(expected) < DEMO_PASSES or not filters  # each filter really filters
    assert bool(expected) == (filters != NO_MATCH)


@pytest.mark.parametrize("sort", SORTS, ids=str)
def test_sorts(client: Any, batch: Batch, sort: str | None) -> None:
    params: Params = [] if sort is None else [("sort", sort)]
    _check_pages(client, batch, [("passType", "loyalty"), *params], size=100)


def test_sorts_with_filters(client: Any, batch: Batch) -> None:
    for filters, sort in zip(FILTERS[1:], SORTS * 2, strict=False):
        sorted_by = [("sort", sort)] if sort else []
        _check_pages(client, batch, [*filters, *sorted_by], size=7, middle=False)


def test_walking_every_page_gives_every_pass_once(client: Any, batch: Batch) -> None:
    query = [("metadata.batch", batch.tag), ("sort", "metadata.rank,apple"), ("pageSize", "500")]
    seen: list[str] = []
    for index in range(DEMO_PASSES // 500 + 1):
        seen += _ids(_search(client, [*query, ("pageIndex", str(index))]))
    assert seen == _expected(batch.demo, query)
    assert len(set(seen)) == DEMO_PASSES


# -- pages -------------------------------------------------------------------------------------


def test_default_page_is_the_first_twenty_by_id(client: Any, batch: Batch) -> None:
    response = _search(client, [("metadata.batch", batch.tag)])
    assert _ids(response) == sorted(document["_id"] for document in batch.demo)[:20]
    assert response.headers["x-pagination-total"] == str(DEMO_PASSES)
    assert response.headers["x-pagination-page-index"] == "0"
    assert response.headers["x-pagination-page-size"] == "20"


def test_last_partial_page_and_beyond(client: Any, batch: Batch) -> None:
    query = [("metadata.batch", batch.tag), ("metadata.store", "42"), ("pageSize", "7")]
    expected = _expected(batch.demo, query)
    assert len(expected) % 7, "the last page should be partial for this test"
    last = len(expected) // 7
    response = _search(client, [*query, ("pageIndex", str(last))])
    assert _ids(response) == expected[last * 7 :]
    assert response.headers["x-pagination-total"] == str(len(expected))
    beyond = _search(client, [*query, ("pageIndex", str(last + 5))])
    assert _ids(beyond) == []
    assert beyond.headers["x-pagination-total"] == str(len(expected))
    assert f'pageIndex={last}>; rel="prev"' in beyond.headers["Link"]
    assert 'rel="next"' not in beyond.headers["Link"]


def test_link_header(client: Any, batch: Batch) -> None:
    query = [("metadata.batch", batch.tag), ("sort", "-creationDate,id"), ("pageSize", "500")]
    links = _search(client, [*query, ("pageIndex", "2")]).headers["Link"]
    assert links == ", ".join(
        f"</api/demo/passes?metadata.batch={batch.tag}&sort=-creationDate,id&pageSize=500"
        f"&pageIndex={page}>;"
        f' rel="{rel}"'
        for rel, page in (("first", 0), ("last", 5), ("prev", 1), ("next", 3))
    )


def test_no_match(client: Any, batch: Batch) -> None:
    response = _search(client, [("metadata.batch", batch.tag), ("identifiers.crm", "C-999")])
    assert _ids(response) == []
    assert response.headers["x-pagination-total"] == "0"


# -- tenants and the public view ---------------------------------------------------------------


def test_each_tenant_sees_only_its_passes(client: Any, batch: Batch) -> None:
    query = [("metadata.batch", batch.tag), ("apple", "installed"), ("pageSize", "500")]
    rival = _search(client, query, tenant="rival", key=RIVAL_KEY)
    assert _ids(rival) == _expected(batch.rival, query)
    demo_ids = {document["_id"] for document in batch.demo}
    assert demo_ids.isdisjoint(_ids(rival))
    assert _search(client, query, tenant="demo", key=RIVAL_KEY).status_code == 403


def test_results_are_the_public_view_of_each_pass(client: Any, batch: Batch) -> None:
    found = _search(client, [("metadata.batch", batch.tag), ("pageSize", "3")]).get_json()
    for item in found:
        one = client.get(f"/api/demo/passes/{item['id']}", headers={"X-API-Key": DEMO_KEY})
        assert one.status_code == 200
        assert item == one.get_json()
        assert "authenticationToken" not in item and "apple" not in item


# -- refused requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("pageSize", "0")], "pageSize"),
        ([("pageSize", "501")], "pageSize"),
        ([("pageSize", "ten")], "pageSize"),
        ([("pageIndex", "-1")], "pageIndex"),
        ([("pageSize", "10"), ("pageSize", "20")], "pageSize"),
        ([("colour", "red")], "colour"),
        ([("tenant", "rival")], "tenant"),
        ([("identifiers", "C-1")], "identifiers"),
        ([("sort", "colour")], "sort"),
        ([("sort", "-id,id")], "sort"),
        ([("sort", "id,")], "sort"),
        ([("sort", "identifiers.a.b.c")], "sort"),
        ([("apple", "yes")], "apple"),
        ([("google", "installed"), ("google", "notInstalled")], "google"),
        ([("passType", "")], "passType.0"),
        ([("identifiers.crm$ne", "x")], "identifiers.crm$ne"),
        ([("identifiers.a.b.c", "x")], "identifiers.a.b.c"),
        ([("metadata.", "x")], "metadata."),
        ([("metadata.store", "")], "metadata.store"),
        ([("identifiers.crm", "C" * 257)], "identifiers.crm"),
    ],
)
def test_bad_parameters_are_named(client: Any, params: Params, field: str) -> None:
    assert field in _fields(_search(client, params))


def test_every_bad_parameter_is_named_at_once(client: Any) -> None:
    params = [("pageSize", "0"), ("sort", "nope"), ("colour", "red"), ("metadata.$where", "1")]
    assert set(_fields(_search(client, params))) == {
        "pageSize",
        "sort",
        "colour",
        "metadata.$where",
    }


def test_openapi_documents_the_search(client: Any) -> None:
    spec = client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/{tenantId}/passes"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"passType", "apple", "google", "sort", "pageIndex", "pageSize"} <= names
    assert {"identifiers.<key>", "metadata.<key>"} <= names
    assert "x-pagination-total" in operation["responses"]["200"]["headers"]


# -- the query itself --------------------------------------------------------------------------


def test_query_is_always_scoped_to_the_tenant() -> None:
    filters = search.PassFilter(
        pass_types=("loyalty",),
        identifiers={"crm": ("C-1", "C-2")},
        metadata={"store": ("42", "x")},
        apple=True,
        google=False,
    )
    assert search.to_query("demo", filters) == {
        "passType": "loyalty",
        "identifiers.crm": {"$in": ["C-1", "C-2"]},
        "metadata.store": {"$in": ["42", 42, "x"]},
        "providers.apple": {"$ne": None},
        "providers.google": None,
        "tenant": "demo",
    }


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("42", 42),
        ("-1.5", -1.5),
        ("1e3", 1000.0),
        ("0", 0),
        ("042", None),
        ("1e999", None),
        (str(2**63), None),
        ("nan", None),
        (" 4", None),
        ("4.", None),
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: int() reads it, JSON does not
    ],
)
def test_which_metadata_values_also_match_as_numbers(text: str, number: float | None) -> None:
    assert search.number_in(text) == number


def test_sort_ends_with_the_id_in_the_last_direction() -> None:
    assert search.with_tie_breaker(search.parse_sort("passType,-lastUpdateDate")) == [
        ("passType", 1),
        ("updatedAt", -1),
        ("_id", -1),
    ]
    assert search.with_tie_breaker(search.parse_sort("-id,passType")) == [
        ("_id", -1),
        ("passType", 1),
    ]
    assert search.with_tie_breaker([]) == [("_id", 1)]
