from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from shared.apple.templates import (
    TemplateRenderError,
    TemplateSyntaxError,
    parse_template,
    referenced_variables,
    unknown_filters,
)

NASTY = [
    'He said "hi"',
    "back\\slash \\u0041 \\n",
    "line\nbreak\r\ttab",
    "nul \x00 bell \x07 esc \x1b",
    "unicode é 漢字 🙂 \u2028\u2029",
    '", "voided": true, "x": "',
    "{{ not a template }} {% raw %}",
    "",
]


def render(source: str, **context: object) -> str:
    return parse_template(source, "pass.json").render(context)


@pytest.mark.parametrize("value", NASTY)
def test_plain_output_inside_a_string_always_gives_valid_json(value: str) -> None:
    out = render('{"label": "before {{ v }} after", "n": 1}', v=value)
    assert json.loads(out) == {"label": f"before {value} after", "n": 1}


@pytest.mark.parametrize("value", [*NASTY, 42, 1.5, True, None, [1, "a"], {"k": ["v"]}])
def test_json_filter_writes_a_complete_json_value(value: object) -> None:
    assert json.loads(render('{"value": {{ v | json }}}', v=value)) == {"value": value}


@pytest.mark.parametrize("value", [0, 7, -12, 10**40, True, False, "12", 1.0])
def test_json_filter_writes_numbers_as_the_json_encoder_does(value: object) -> None:
    assert render("{{ v | json }}", v=value) == json.dumps(value, ensure_ascii=False)


def test_escaping_applies_to_echo_and_liquid_tags_too() -> None:
    source = '{"a": "{% echo v %}", "b": "{% liquid\necho v %}"}'
    assert json.loads(render(source, v='x"y')) == {"a": 'x"y', "b": 'x"y'}


def test_filtered_json_text_is_escaped_again() -> None:
    # Only the json filter's own output is trusted; anything derived from it is plain text.
    assert json.loads(render('{"a": "{{ v | json | upcase }}"}', v='x"')) == {"a": '"X\\""'}


def test_dates_are_written_as_iso_8601() -> None:
    now = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    out = render(
        '{"a": "{{ now }}", "b": {{ now | json }}, "c": {{ d | json }}}',
        now=now,
        d=date(2025, 1, 2),
    )
    assert json.loads(out) == {
        "a": "2025-03-04T05:06:00+00:00",
        "b": "2025-03-04T05:06:00+00:00",
        "c": "2025-01-02",
    }
    assert render('{{ now | date: "%Y" }}', now=now) == "2025"


def test_missing_value_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TemplateRenderError, match=r"pass.metadata.tier is undefined") as info:
        render('{\n"a": "{{ pass.metadata.tier }}"}', **{"pass": {"metadata": {}}})
    assert info.value.line == 2
    for source in ("{{ x | json }}", "{{ x | upcase }}", "{% for i in x %}{% endfor %}"):
        with pytest.raises(TemplateRenderError, match="undefined"):
            render(source)


def test_default_and_if_handle_optional_values() -> None:
    source = (
        '{{ x | default: 0 | json }}|{{ y.z | default: "none" }}|'
        "{% if x %}set{% else %}unset{% endif %}"
    )
    assert render(source) == "0|none|unset"
    assert render(source, x=5, y={"z": "zz"}) == "5|zz|set"
    assert render('{% if x == "a" %}A{% else %}B{% endif %}') == "B"


def test_json_filter_refuses_values_json_cannot_hold() -> None:
    for value in (float("nan"), object()):
        with pytest.raises(TemplateRenderError, match="json"):
            render("{{ v | json }}", v=value)


def test_runaway_loops_are_stopped() -> None:
    with pytest.raises(TemplateRenderError, match="limit"):
        render("{% for i in (1..1000000) %}x{% endfor %}")


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ('{\n"a": {{ x | }}\n}', "expected", 2),
        ("{\n\n{% if x %}\n}", "endif", 3),
        ('{\n"a": {{ x y }}', "expected end of expression", 2),
        ('{\n"a": "{% include "other" %}"', "unexpected tag 'include'", 2),
        ("{% capture a %}b{% endcapture %}", "unexpected tag 'capture'", 1),
        ('{\n\n"a": {{ "unclosed }}', "unexpected", 3),
    ],
)
def test_syntax_errors_carry_the_line(source: str, message: str, line: int) -> None:
    with pytest.raises(TemplateSyntaxError, match=message) as info:
        parse_template(source, "pass.json")
    assert info.value.line == line


def test_static_analysis_lists_context_variables_with_lines() -> None:
    template = parse_template(
        "{% assign t = pass.metadata.tier %}{{ t }}\n"
        "{% for f in external.favourites %}{{ f.name }}{{ forloop.index }}{% endfor %}\n"
        "{{ pass.metadata[key] }} {{ now }} {{ pass.metadata.tier }}",
        "pass.json",
    )
    refs = {ref.text: (ref.segments, ref.line) for ref in referenced_variables(template)}
    assert refs == {
        "pass.metadata.tier": (("pass", "metadata", "tier"), 1),
        "external.favourites": (("external", "favourites"), 2),
        "key": (("key",), 3),
        "pass.metadata[key]": (("pass", "metadata", ["key"]), 3),
        "now": (("now",), 3),
    }


def test_unknown_filters_are_found_without_rendering() -> None:
    template = parse_template("{{ a | upcase }}\n{{ a | shout }}{{ b | json | nope: 1 }}", "p")
    assert unknown_filters(template) == [("nope", 2), ("shout", 2)]
