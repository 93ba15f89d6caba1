"""The served OpenAPI document is the contract: schemathesis fuzzes every operation of
`/api/openapi.json` against the real app (real Redis, the MongoDB wire server), and every
answer must be documented: no 5xx; a status the operation itself declares (its `default`
response does not count); a body exactly when one is declared, in a declared media type,
matching its schema; the declared headers.

Bounded and deterministic: `MAX_EXAMPLES` generated cases per operation plus schemathesis's
coverage cases, derandomized with a fixed seed, no example database.

Cases name tenant `demo` most of the time (else `rival`, whose resources the demo key may
not touch, or an unknown tenant), send the demo API key most of the time (else none), and
name the pass, operations and Apple pass of `Known` some of the time: fuzzed ids mostly
find nothing (documented 404s), the known ones reach the answers that need an existing
resource (JSON and .pkpass, 202s with Location, device registrations, cancelling). Answers
that fuzzing seldom reaches (304s, 413, 429, replays, self-service) get one explicit case
each, validated the same way.

Not fuzzed: `POST /api/{tenantId}/push-updates` (see `EXCLUDED`), and `DELETE` of the known
pass (its job would void and delete it once a worker runs; `test_deleting_a_pass` deletes
one of its own). The Apple registration storm guard is fuzzed as it is: its counters live in
this session's Redis, per device, and a fuzzed device id that reaches the limit gets the
documented 429. Imports are fuzzed as they are: fuzzed files are refused (400/422), and one
that is accepted names passes by fuzzed identifiers, which match none; its job stays queued
and is cancelled with the other 202s.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

# What the built-in checks skip too: schemathesis's request-shape probes (an undeclared
# method, a malformed Content-Type), where only a server error is a finding.
from schemathesis.specs.openapi.checks import is_unexpected_http_status_case

from config.settings import Settings
from shared import operations
from shared.imports.batches import run_import_batch
from shared.imports.csv_file import read_import_file
from shared.imports.planning import run_import_plan
from shared.imports.storing import store_import
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.passes.creation import run_create
from shared.passes.jobs import JobContext
from shared.repositories.indexes import ensure_indexes
from tests.conftest import DEMO_KEY, RIVAL_KEY

MAX_EXAMPLES = 12
SEED = 20240301
SPEC = "/api/openapi.json"
EXCLUDED = {
    # Starts a campaign job over a segment of the tenant's passes (`{}` is all of them) that
    # stays queued in this session's Redis: a worker started later by another test would
    # merge fuzzed data into every demo pass, those of other tests included.
    ("POST", "/api/{tenantId}/push-updates"),
}
CONFIG = {
    "seed": SEED,
    "generation": {"deterministic": True, "database": "none"},
    # Authenticates every tenant API case; the PassKit web service ignores it.
    "headers": {"X-API-Key": DEMO_KEY},
    # The coverage phase's cases, which hooks do not see, all name the demo tenant.
    "parameters": {"path.tenantId": "demo"},
}


# -- what the fuzzer mixes into its cases --------------------------------------------------


@dataclass(frozen=True)
class Known:
    pass_id: str  # a demo loyalty pass, rendered and signed as the create job does it
    apple_pass_type: str
    apple_token: str
    etag: str
    last_modified: str
    completed_operation: str  # the pass's create operation
    queued_operation: str  # never run: the first DELETE cancels it, later ones get 409
    import_operation: str  # an import that ran (its row names no pass): results.csv is 200


def _create_operation(db: Any, pass_id: str) -> str:
    correlation_id = new_correlation_id()
    intent = {
        "passId": pass_id,
        "passType": "loyalty",
        "identifiers": {"crm": f"C-{secrets.token_hex(4)}"},
        "metadata": {"store": "42"},
        "additionalData": {},
    }
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id, tenant_id="demo", kind="create", total=1, intent=intent
        ),
    )
    return correlation_id


def _issued_pass(app: Any, db: Any, settings: Settings) -> tuple[str, str]:
    """A demo loyalty pass, rendered and signed as the create job does it; its id and its
    create operation."""
    pass_id = new_pass_id()
    created = _create_operation(db, pass_id)
    context = JobContext(db=db, tenants=app.extensions["passwire.tenants"], settings=settings)
    operation = run_create(context, created)
    assert operation is not None and operation["status"] == "completed"
    return pass_id, created


def _ran_import(app: Any, db: Any, settings: Settings) -> str:
    """An import of one row that names no pass, run as its jobs run it."""
    correlation_id = new_correlation_id()
    upload = read_import_file(b"id.crm,metadata.store\r\nNO-SUCH-CARD,42\r\n", max_rows=1)
    store_import(db, tenant_id="demo", correlation_id=correlation_id, upload=upload)
    context = JobContext(db=db, tenants=app.extensions["passwire.tenants"], settings=settings)
    run_import_plan(context, correlation_id, lambda index: None)
    operation = run_import_batch(context, correlation_id, 0)
    assert operation is not None and operation["status"] == "failed"
    return correlation_id


@pytest.fixture(scope="module")
def known(app: Any, db: Any, settings: Settings) -> Iterator[Known]:
    ensure_indexes(db)  # workers create them at start-up; no worker runs here
    started = utcnow()
    pass_id, created = _issued_pass(app, db, settings)
    document = db.passes.find_one({"_id": pass_id})
    with app.test_client() as client:
        pkpass = client.get(
            f"/api/demo/passes/{pass_id}?device=apple", headers={"X-API-Key": DEMO_KEY}
        )
    assert pkpass.status_code == 200, pkpass.get_data(as_text=True)
    yield Known(
        pass_id=pass_id,
        apple_pass_type=document["apple"]["passTypeIdentifier"],
        apple_token=document["authenticationToken"],
        etag=pkpass.headers["ETag"],
        last_modified=pkpass.headers["Last-Modified"],
        completed_operation=created,
        queued_operation=_create_operation(db, new_pass_id()),
        import_operation=_ran_import(app, db, settings),
    )
    # The jobs of the 202s stay queued in Redis: cancelled, a worker that a later test
    # starts skips them instead of creating and pushing fuzzed passes.
    queued = {"tenant": "demo", "status": operations.QUEUED, "createdAt": {"$gte": started}}
    for leftover in db.operations.find(queued, {"_id": 1}):
        operations.request_cancel(db, "demo", leftover["_id"])


def _choices(case: Any, known: Known) -> Any:
    """The case, some of its parts swapped for known resources and common values."""
    path = case.operation.path
    params = case.path_parameters or {}
    fuzzed = object()  # keep what schemathesis generated
    options: dict[str, Any] = {}
    if "tenantId" in params:
        options["tenantId"] = st.sampled_from(["demo"] * 6 + ["rival", "no-such-tenant"])
    if path.startswith("/api/"):
        options["credential"] = st.sampled_from([fuzzed] * 7 + [None])  # None: no X-API-Key
    if "passId" in params:
        # Not DELETE: its job would void and delete the pass the other cases need, as soon
        # as a worker runs (test_deleting_a_pass deletes a pass of its own).
        mine = [] if case.method.upper() == "DELETE" else [known.pass_id]
        options["passId"] = st.sampled_from([*mine, fuzzed, fuzzed])
    if "correlationId" in params:
        options["correlationId"] = st.sampled_from(
            [
                known.completed_operation,
                known.queued_operation,
                known.import_operation,
                fuzzed,
                fuzzed,
            ]
        )
    if "serialNumber" in params or "passTypeIdentifier" in params:
        options["apple"] = st.sampled_from([True, False])
    if "passType" in (case.query or {}) and case.method.upper() == "POST":
        options["passType"] = st.sampled_from(["loyalty", fuzzed])
    if path.startswith("/api/") and case.method.upper() in ("POST", "PATCH"):
        options["idempotency"] = st.sampled_from([fuzzed] * 3 + ["contract-1", "contract-2"])

    def apply(chosen: dict[str, Any]) -> Any:
        path_parameters = dict(params)
        headers = dict(case.headers or {})
        for name in ("tenantId", "passId", "correlationId"):
            if chosen.get(name, fuzzed) is not fuzzed:
                path_parameters[name] = chosen[name]
        if chosen.get("apple"):
            path_parameters["passTypeIdentifier"] = known.apple_pass_type
            if "serialNumber" in params:
                path_parameters["serialNumber"] = known.pass_id
            headers["Authorization"] = f"ApplePass {known.apple_token}"
        if chosen.get("credential", fuzzed) is None:
            headers.pop("X-API-Key", None)
        if chosen.get("passType", fuzzed) is not fuzzed:
            case.query = {**case.query, "passType": chosen["passType"]}
        if chosen.get("idempotency", fuzzed) is not fuzzed:
            headers["Idempotency-Key"] = chosen["idempotency"]
        case.path_parameters = path_parameters or case.path_parameters
        case.headers = headers
        return case

    return st.fixed_dictionaries(options).map(apply)


@pytest.fixture(scope="module")
def contract_schema(app: Any, known: Known) -> Any:
    schema = schemathesis.openapi.from_wsgi(SPEC, app, config=schemathesis.Config.from_dict(CONFIG))

    @schema.hook
    def flatmap_case(context: Any, case: Any) -> Any:
        return _choices(case, known)

    return schema


schema = schemathesis.pytest.from_fixture("contract_schema")
for _method, _path in EXCLUDED:
    schema = schema.exclude(method=_method, path=_path)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy loader (from_fixture) reads and rewrites `item._nodeid`,
    # which pytest 9.2 no longer has; give it one.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


# -- stricter than the built-in checks ---------------------------------------------------


def _declared(case: Any, status: int) -> Any:
    """The operation's own declaration of `status` (exact or `4XX`), never `default`."""
    for code, response in case.operation.responses.items():
        if code == str(status) or (code.upper().endswith("XX") and code[0] == str(status)[0]):
            return response
    return None


@schemathesis.check
def status_code_declared(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every status an operation answers is declared by it: `default` is no documentation."""
    if is_unexpected_http_status_case(case):  # schemathesis's own probes (e.g. TRACE)
        return None
    if _declared(case, response.status_code) is None:
        codes = ", ".join(code for code, _ in case.operation.responses.items())
        raise AssertionError(f"{response.status_code} is not declared (only {codes})")
    return None


@schemathesis.check
def body_as_declared(ctx: Any, response: Any, case: Any) -> bool | None:
    """A body exactly when the declaration has content (204, 304 and the PassKit 200/201s
    have none; JSON and .pkpass answers do)."""
    declared = (
        None if is_unexpected_http_status_case(case) else _declared(case, response.status_code)
    )
    if declared is None:
        return None
    content = declared.definition.get("content") or {}
    if response.content and not content:
        raise AssertionError(
            f"{response.status_code} has a body ({response.headers.get('content-type')}) "
            "but declares no content"
        )
    if not response.content and content:
        raise AssertionError(f"{response.status_code} has no body but declares {list(content)}")
    return None


CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    status_code_declared,
    content_type_conformance,
    body_as_declared,
    response_schema_conformance,
    response_headers_conformance,
    unsupported_method,
    allow_header_conformance,
]


# -- the tests ----------------------------------------------------------------------------


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_spec(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


# -- answers fuzzing seldom reaches, one explicit case each -------------------------------

DEMO = {"tenantId": "demo"}
KEY = {"X-API-Key": DEMO_KEY}
LOYALTY = {"passType": "loyalty"}
ISSUE = "POST /api/{tenantId}/passes"
GET_PASS = "GET /api/{tenantId}/passes/{passId}"
LATEST = "GET /apple/{tenantId}/v1/passes/{passTypeIdentifier}/{serialNumber}"
REGISTRATION = (
    "/apple/{tenantId}/v1/devices/{deviceLibraryIdentifier}/registrations/"
    "{passTypeIdentifier}/{serialNumber}"
)


def _call(schema: Any, operation: str, expected: int | set[int], **parts: Any) -> Any:
    """One explicit case of `"METHOD /path"`, validated like the fuzzed ones."""
    method, path = operation.split(" ", 1)
    response = schema[path][method].Case(**parts).call_and_validate(checks=CHECKS)
    statuses = {expected} if isinstance(expected, int) else expected
    assert response.status_code in statuses, response.text
    return response


def _header(response: Any, name: str) -> str:
    value: str = response.headers[name.lower()][0]
    return value


def test_conditional_pkpass_answers(contract_schema: Any, known: Known) -> None:
    ids, apple = {**DEMO, "passId": known.pass_id}, {"device": "apple"}
    _call(contract_schema, GET_PASS, 200, path_parameters=ids, query=apple, headers=KEY)
    fresh = {**KEY, "If-None-Match": known.etag}
    _call(contract_schema, GET_PASS, 304, path_parameters=ids, query=apple, headers=fresh)

    device_pass = {
        **DEMO,
        "passTypeIdentifier": known.apple_pass_type,
        "serialNumber": known.pass_id,
    }
    token = {"Authorization": f"ApplePass {known.apple_token}"}
    _call(contract_schema, LATEST, 200, path_parameters=device_pass, headers=token)
    unchanged = {**token, "If-Modified-Since": known.last_modified}
    _call(contract_schema, LATEST, 304, path_parameters=device_pass, headers=unchanged)


def test_idempotent_replay_and_self_service(contract_schema: Any) -> None:
    once = {**KEY, "Idempotency-Key": secrets.token_hex(8)}
    issue = {"path_parameters": DEMO, "query": LOYALTY, "body": {"metadata": {"store": "7"}}}
    first = _call(contract_schema, ISSUE, 202, headers=once, **issue)
    replayed = _call(contract_schema, ISSUE, 202, headers=once, **issue)
    assert _header(replayed, "Idempotent-Replayed") == "true"
    assert _header(replayed, "Location") == _header(first, "Location")

    # Without a credential: the tenant's allowlisted identifier; the second time, the same pass.
    anonymous = {"path_parameters": DEMO, "query": LOYALTY}
    allowlisted = {"identifiers": {"crm": "C-ALLOWLISTED"}}
    _call(contract_schema, ISSUE, {200, 202}, body=allowlisted, **anonymous)
    _call(contract_schema, ISSUE, 200, body=allowlisted, **anonymous)


def test_a_tenant_without_smtp_sends_no_email(contract_schema: Any, known: Known) -> None:
    email = "POST /api/{tenantId}/passes/{passId}/email"
    rival = {"tenantId": "rival", "passId": known.pass_id}
    body = {"to": "ada@example.com"}
    headers = {"X-API-Key": RIVAL_KEY}
    refused = _call(contract_schema, email, 409, path_parameters=rival, headers=headers, body=body)
    assert refused.json()["errors"] == [
        {"field": "smtp", "reason": "not configured for this tenant"}
    ]


def test_deleting_a_pass(contract_schema: Any, app: Any, db: Any, settings: Settings) -> None:
    delete = "DELETE /api/{tenantId}/passes/{passId}"
    pass_id, _ = _issued_pass(app, db, settings)
    ids = {**DEMO, "passId": pass_id}
    erase = {"erase": "true"}
    accepted = _call(contract_schema, delete, 202, path_parameters=ids, query=erase, headers=KEY)
    # Its job stays queued (no worker runs here): cancelled, a later worker skips it.
    operations.request_cancel(db, "demo", accepted.json()["correlationId"])
    _call(contract_schema, delete, 422, path_parameters=ids, query={"erase": "?"}, headers=KEY)
    unknown = {**DEMO, "passId": new_pass_id()}
    _call(contract_schema, delete, 404, path_parameters=unknown, query=erase, headers=KEY)


def test_bodies_over_the_limit(contract_schema: Any, settings: Settings) -> None:
    too_long = "a" * settings.max_request_bytes
    body = {"additionalData": {"text": too_long}}
    _call(contract_schema, ISSUE, 413, path_parameters=DEMO, query=LOYALTY, headers=KEY, body=body)
    log = "POST /apple/{tenantId}/v1/log"
    _call(contract_schema, log, 413, path_parameters=DEMO, body={"logs": [too_long]})


def test_registration_storm_is_told_when_to_retry(
    contract_schema: Any, known: Known, app: Any
) -> None:
    calls = app.extensions["passwire.settings"].apple_registration_rate
    registration = {
        "path_parameters": {
            **DEMO,
            "deviceLibraryIdentifier": secrets.token_hex(16),
            "passTypeIdentifier": known.apple_pass_type,
            "serialNumber": known.pass_id,
        },
        "headers": {"Authorization": f"ApplePass {known.apple_token}"},
    }
    register = {**registration, "body": {"pushToken": secrets.token_hex(32)}}
    _call(contract_schema, f"POST {REGISTRATION}", 201, **register)
    for _ in range(calls - 1):
        _call(contract_schema, f"POST {REGISTRATION}", 200, **register)
    flooded = _call(contract_schema, f"DELETE {REGISTRATION}", 429, **registration)
    assert 1 <= int(_header(flooded, "Retry-After")) <= 60


def test_an_import_and_its_results(contract_schema: Any, known: Known) -> None:
    # Fuzzed files are mostly refused (400/422); a valid one is accepted, and its job stays
    # queued and is cancelled with the other 202s (its rows name no pass anyway).
    imports = "POST /api/{tenantId}/imports"
    csv_body = "id.crm;additionalData.points\r\nNO-SUCH-CARD;7\r\n"
    upload = {"path_parameters": DEMO, "headers": KEY, "media_type": "text/csv"}
    _call(contract_schema, imports, 202, body=csv_body, **upload)
    _call(contract_schema, imports, 422, body="id.crm;points\r\nC-1;7\r\n", **upload)
    results = "GET /api/{tenantId}/imports/{correlationId}/results.csv"
    ids = {**DEMO, "correlationId": known.import_operation}
    answer = _call(contract_schema, results, 200, path_parameters=ids, headers=KEY)
    assert answer.text.splitlines() == [
        "row,passId,status,error",
        "2,,failed,no pass matches id.crm",
    ]


# -- the document itself ------------------------------------------------------------------

# Not in the OpenAPI document: the document and its UI, and the customers' HTML pages.
UNDOCUMENTED_ENDPOINTS = ("static", "api-docs.", "pages.", "dashboard.")
ENVELOPE = {"$ref": "#/components/schemas/Error"}


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"declared twice: {keys}"
    return dict(pairs)


def test_the_served_document_covers_every_endpoint_scope_and_error(
    app: Any, contract_schema: Any
) -> None:
    with app.test_client() as client:
        served = client.get(SPEC)
    assert served.status_code == 200
    assert served.mimetype == "application/json"
    spec = json.loads(served.get_data(as_text=True), object_pairs_hook=_no_duplicate_keys)
    contract_schema.validate()  # against the OpenAPI 3.0 meta-schema

    routed = {
        (method, re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith(UNDOCUMENTED_ENDPOINTS)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert routed == documented

    for method, path in sorted(documented):
        operation = spec["paths"][path][method.lower()]
        responses = operation["responses"]
        where = f"{method} {path}"
        for status, response in responses.items():
            if status[0] in "45":  # every error answer is the envelope
                assert response["content"]["application/json"]["schema"] == ENVELOPE, where
        if path.startswith("/api/{tenantId}/"):
            assert operation["x-required-scope"], where
            assert {"ApiKey": []} in operation["security"], where
            assert {"BearerAuth": []} in operation["security"], where
            expected = {"401", "403", "404", "503"}
            if method in ("POST", "PATCH"):
                expected |= {"400", "409", "413", "415", "422"}
            assert expected <= set(responses), where
        elif path.startswith("/apple/{tenantId}/"):
            assert "404" in responses, where  # unknown tenant
        else:
            assert operation["security"] == [], where  # probes
