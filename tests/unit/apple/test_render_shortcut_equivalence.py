"""The load-time-checked render shortcut must give exactly what the full render gives: the
same bytes for data it accepts, the same refusal otherwise. Random data, fixed seed."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from config.settings import CONFIG_DIR
from shared.apple.passtype import PassRenderError, build_render_context, render_pass_json
from shared.tenancy.tenants import load_registry

AWKWARD = ['"', "\\", "\n", "\t", "\x00", "é", "😀", "</script>", "{{", "%@", "\u2028", " "]


def _value(rng: random.Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.randint(-(10**6), 10**6)
    if kind == 2:
        return rng.random() * 1000
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return [rng.randint(0, 9)]
    text = "".join(rng.choice(AWKWARD + list("abcXYZ019")) for _ in range(rng.randint(0, 12)))
    return text


def _document(rng: random.Random) -> dict[str, Any]:
    def maybe(name: str) -> dict[str, Any]:
        return {name: _value(rng)} if rng.random() < 0.8 else {}

    return {
        "_id": "serial-" + str(rng.randint(10000, 99999)),
        "passType": "loyalty",
        "identifiers": maybe("crm"),
        "metadata": {**maybe("tier"), **maybe("store")},
        "additionalData": maybe("points"),
    }


def _outcome(pass_type: Any, context: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", render_pass_json(
            pass_type,
            context,
            serial_number=context["pass"]["id"],
            authentication_token="a" * 32,
            web_service_url="https://wallet.example/apple/demo",
            pass_type_identifier="pass.com.example.demo",
            team_identifier="TEAMID1234",
        )
    except PassRenderError as exc:
        return "refused", str(exc)


def test_the_shortcut_matches_the_full_render() -> None:
    registry = load_registry(CONFIG_DIR / "tenants", include_local_only=True)
    demo = registry.get("demo")
    assert demo is not None
    fast = demo.pass_types["loyalty"].apple
    assert fast is not None
    if fast.prechecked is None:
        pytest.fail("the demo template should qualify for the shortcut")
    full = dataclasses.replace(fast, prechecked=None)
    rng = random.Random(20261122)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(1500):
        context = build_render_context(_document(rng), external={}, now=now)
        expected = _outcome(full, context)
        assert _outcome(fast, context) == expected, context
        outcomes[expected[0]] += 1
    # Both kinds of outcome were exercised.
    assert outcomes["ok"] > 100 and outcomes["refused"] > 100
