"""A JSON body that Python's decoder accepts but nothing downstream can store or answer with
is refused up front with 400 and the error envelope, on every endpoint taking JSON, nothing
written: a lone UTF-16 surrogate (`"\\ud800"`, valid JSON syntax, not encodable as UTF-8 or
BSON), an integer literal longer than Python converts (4,300 digits). A multipart import
with a nameless part is a clear 422 too."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import flask_smorest
import pytest
import redis

from api.bodies import JsonBodyParser
from config.celery import BULK_QUEUE, INTERACTIVE_QUEUE
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from tests.conftest import DEMO_KEY

JSON = {"X-API-Key": DEMO_KEY, "Content-Type": "application/json"}
LONE = r"\ud800"  # the six characters of a JSON escape: the decoder yields a lone surrogate
HUGE_INT = "9" * 5000


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def voucher(db: Any) -> str:
    """A stored, active voucher (redeemable) for the endpoints that need a pass."""
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": "demo", "passType": "voucher", "status": "active",
         "authenticationToken": secrets.token_hex(16),
         "identifiers": {"code": f"V-{secrets.token_hex(4)}"}, "metadata": {},
         "additionalData": {}, "version": 1, "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    return pass_id


@pytest.fixture
def nothing_written(db: Any, redis_url: str, voucher: str) -> Iterator[None]:
    queue = redis.Redis.from_url(redis_url)

    def snapshot() -> tuple[Any, ...]:
        return (
            db.operations.count_documents({}),
            db.passes.count_documents({}),
            db.passes.find_one({"_id": voucher}),
            queue.llen(INTERACTIVE_QUEUE),
            queue.llen(BULK_QUEUE),
        )

    before = snapshot()
    yield
    assert snapshot() == before


# (method, path, body template): `{bad}` is where the offending JSON value goes.
ENDPOINTS = {
    "create": ("POST", "/api/demo/passes?passType=loyalty", '{"metadata": {"note": {bad}}}'),
    "patch": ("PATCH", "/api/demo/passes/{pass_id}", '{"metadata": {"note": {bad}}}'),
    "patch-bypass": (
        "PATCH",
        "/api/demo/passes/{pass_id}",
        '{"metadata": {"note": {bad}}, "options": {"bypassQueue": true}}',
    ),
    "push-updates": (
        "POST",
        "/api/demo/push-updates",
        '{"filter": {"ids": ["{pass_id}"]}, "data": {"metadata": {"note": {bad}}}}',
    ),
    "notification": (
        "PUT",
        "/api/demo/passes/{pass_id}/notification",
        '{"message": {"content": {bad}}}',
    ),
    "redemptions": ("POST", "/api/demo/redemptions", '{"barcode": {bad}}'),
    "apple-log": ("POST", "/apple/demo/v1/log", '{"logs": [{bad}]}'),
}
BAD_VALUES = {
    "lone-surrogate": (f'"{LONE}"', "UTF-16 surrogate"),
    "lone-surrogate-in-key": (f'{{"{LONE}": 1}}', "UTF-16 surrogate"),
    "huge-integer": (HUGE_INT, "digits"),
}


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("bad", list(BAD_VALUES))
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_an_undecodable_json_body_is_400_naming_why(
    client: Any, voucher: str, endpoint: str, bad: str
) -> None:
    method, path, template = ENDPOINTS[endpoint]
    value, reason = BAD_VALUES[bad]
    body = template.replace("{bad}", value).replace("{pass_id}", voucher)
    response = client.open(
        path.replace("{pass_id}", voucher), method=method, data=body.encode(), headers=JSON
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["status"] == 400
    assert answer["code"] == "bad_request"
    [error] = answer["errors"]
    assert error["field"] == "body"
    assert reason in error["reason"]


def test_a_surrogate_pair_is_one_character_and_accepted(client: Any, voucher: str) -> None:
    # The escape of a character beyond the BMP is two surrogates: valid, not refused.
    response = client.post(
        "/apple/demo/v1/log", data=r'{"logs": ["smile \ud83d\ude00"]}', headers=JSON
    )
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "names",
    [
        [None, "extra"],  # a part without a name, and another extra field
        [None, None],
    ],
)
def test_a_multipart_import_with_a_nameless_part_is_422(
    client: Any, db: Any, names: list[str | None]
) -> None:
    boundary = "b0undary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nid.crm\r\nC-1\r\n"
    ]
    for name in names:
        disposition = "form-data" if name is None else f'form-data; name="{name}"'
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\nvalue\r\n")
    body = "".join(parts) + f"--{boundary}--\r\n"
    before = db.operations.count_documents({})
    response = client.post(
        "/api/demo/imports",
        data=body.encode(),
        headers={
            "X-API-Key": DEMO_KEY,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    [error] = response.get_json()["errors"]
    assert "unknown form field" in error["reason"]
    assert db.operations.count_documents({}) == before


def test_every_api_blueprint_loads_json_bodies_strictly(app: Any) -> None:
    # One loader for all: a blueprint on flask-smorest's own parser would take those bodies.
    smorest = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
    assert len(smorest) >= 10
    assert all(isinstance(bp.ARGUMENTS_PARSER, JsonBodyParser) for bp in smorest)
