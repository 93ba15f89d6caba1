"""Compiled templates (shared/apple/template_compiler.py) render exactly what Liquid renders:
the same text for data Liquid accepts, the same error (message and line) for data it refuses.
Liquid's own render (`render_with_liquid`) is the reference; random data, fixed seed."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.apple.templates import JsonTemplate, TemplateRenderError, parse_template

COMPILED = [
    '{"a": "{{ pass.metadata.tier }}"}',
    '{"a": "{{ pass.metadata.tier | default: "Bean" }}", "b": {{ pass.balance | json }}}',
    '{"a": {{ pass.additionalData.points | default: 0 | json }}}',
    '{"a": "{{ pass.identifiers.crm | default: pass.id }}"}',
    '{"a": "{{ pass.metadata.tier | default: nil }}{{ pass.metadata.store | default: false }}"}',
    '{"a": "{{ pass.metadata.tier | default: 1.5 | append: pass.id | upcase }}"}',
    '{"a": "{{ pass.metadata.tier | default: "x", allow_false: true }}"}',
    '{"a": "{{ now | date: "%Y-%m-%d" }}", "b": "{{ now }}", "c": {{ now | json }}}',
    '{"a": "{{ pass.metadata.store.deeper.still }}", "b": "{{ external.firstName | json }}"}',
    '{"a": "{{ external.firstName }}", "b": "{{ pass.nickname | default: pass.id }}"}',
    '{"a": "{{ "literal" }}", "b": {{ 42 | json }}, "c": "{{ pass.metadata | json }}"}',
    '{"a": "{{ pass.metadata.tier | split: "," | join: "+" }}"}',
    '{"a": "{{ pass.metadata.tier | truncate: pass.additionalData.points }}"}',
]
# Liquid gives these names or forms a meaning the compiler does not reproduce.
NOT_COMPILED = [
    '{"a": "{{ pass.metadata.tier.size }}"}',
    '{"a": "{{ pass.metadata.tier.first }}"}',
    '{"a": "{{ pass.metadata.tier[0] }}"}',
    '{"a": "{{ pass.metadata[pass.id] }}"}',
    '{"a": "{{ partial }}"}',
    '{"a": "{% if pass.metadata.tier %}{{ pass.metadata.tier }}{% endif %}"}',
]
AWKWARD = ['"', "\\", "\n", "\x00", "é", "😀", "{{", "%@", "\u2028", " ", ","]


def _value(rng: random.Random) -> Any:
    kind = rng.randrange(11)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([0, 1, -7, 10**20])
    if kind == 2:
        return rng.choice([0.0, 2.5, -1e300])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return rng.choice([[], [1, "a"], {}, {"deeper": {"still": "s"}}])
    if kind == 5:
        return ""
    if kind == 6:
        return rng.choice([datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), date(2026, 1, 2)])
    return "".join(rng.choice(AWKWARD + list("ab1")) for _ in range(rng.randint(1, 8)))


def _context(rng: random.Random) -> dict[str, Any]:
    def group(*names: str) -> dict[str, Any]:
        return {name: _value(rng) for name in names if rng.random() < 0.7}

    return {
        "pass": {
            "id": "pass-" + str(rng.randint(0, 99)),
            "balance": rng.choice([0, 125, -3]),
            "identifiers": group("crm"),
            "metadata": group("tier", "store"),
            "additionalData": group("points"),
        },
        "external": group("firstName"),
        "now": datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
    }


def _outcome(render: Any, context: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return ("ok", render(context))
    except TemplateRenderError as exc:
        return ("refused", str(exc), exc.line)


@pytest.mark.parametrize("source", COMPILED)
def test_compiled_templates_render_as_liquid_does(source: str) -> None:
    template = parse_template(source, "t.json")
    assert template.compiled is not None, "this template should compile"
    rng = random.Random(source)
    compiled_renders = 0
    for _ in range(400):
        context = _context(rng)
        expected = _outcome(template.render_with_liquid, context)
        assert _outcome(template.render, context) == expected, context
        compiled_renders += template.compiled.render(context) is not None
    assert compiled_renders > 0, "the compiled form should render some of these itself"


@pytest.mark.parametrize("source", NOT_COMPILED)
def test_other_forms_are_left_to_liquid(source: str) -> None:
    template = parse_template(source, "t.json")
    assert template.compiled is None
    context = _context(random.Random(1))
    assert _outcome(template.render, context) == _outcome(template.render_with_liquid, context)


def test_a_root_missing_from_the_data_is_left_to_liquid() -> None:
    # Liquid looks further than the render arguments (built-ins: `now`, `today`).
    template: JsonTemplate = parse_template('{"a": "{{ today | date: "%Y" }}"}', "t.json")
    assert template.compiled is not None
    assert template.render({}) == template.render_with_liquid({})
    assert template.render({}) == f'{{"a": "{date.today().year}"}}'
