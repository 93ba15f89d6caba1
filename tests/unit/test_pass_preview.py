"""The preview of a pass (`GET …/passes/{passId}/preview`, `?device=preview`) shows its rendered
pass.json without the live `authenticationToken`: whoever reads a preview must not be able to
register devices for the pass or fetch it as a device."""

from __future__ import annotations

import json

from api.passes.preview import REDACTED_TOKEN, preview

TOKEN = "live-token-" + "x" * 32


def test_the_preview_never_shows_the_passs_authentication_token() -> None:
    pass_json = {
        "serialNumber": "P-1",
        "authenticationToken": TOKEN,
        "webServiceURL": "https://passes.example/apple/demo",
        "storeCard": {"primaryFields": [{"key": "points", "value": 120}]},
    }
    document = {"_id": "P-1", "authenticationToken": TOKEN, "apple": {"passJson": b""}}
    document["apple"]["passJson"] = json.dumps(pass_json).encode()

    shown = preview(document)

    assert TOKEN not in json.dumps(shown)
    assert shown["apple"]["authenticationToken"] == REDACTED_TOKEN
    # Everything else is the pass.json as stored.
    assert {k: v for k, v in shown["apple"].items() if k != "authenticationToken"} == {
        k: v for k, v in pass_json.items() if k != "authenticationToken"
    }
    assert shown["google"] is None


def test_a_pass_json_without_a_web_service_gets_no_placeholder() -> None:
    document = {"_id": "P-2", "apple": {"passJson": json.dumps({"serialNumber": "P-2"}).encode()}}
    assert preview(document)["apple"] == {"serialNumber": "P-2"}
