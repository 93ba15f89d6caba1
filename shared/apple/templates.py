"""Liquid templates that render JSON: the pass.json template of an Apple pass type.

Tenants write templates, so templates must not run code: Liquid has no access to Python
objects beyond the plain data we pass in, and resource limits stop runaway loops.

JSON safety, the rule a template author needs:

- `{{ expr }}` writes the value escaped as the *inside* of a JSON string (quotes, backslashes
  and control characters escaped, no surrounding quotes). Use it between quotes:
  `"value": "Hello {{ pass.metadata.name }}"`. Whatever the value holds, it cannot end the
  string early, so it cannot add or change keys.
- `{{ expr | json }}` writes the value as a complete JSON value (a quoted string, a number,
  true/false/null, an array or an object). Use it outside quotes:
  `"value": {{ external.points | json }}`.
- Dates and times are written as ISO 8601 (`2025-01-31T09:00:00+00:00`), the W3C format Wallet
  expects, in both forms.

Missing data: the environment uses a strict undefined. Writing a value that does not exist,
or filtering it (`| upcase`), is an error, never a silent empty string. Two uses are allowed
on purpose, so optional data can be handled: `{{ x | default: "none" }}` gives the default,
and `{% if x %}` treats a missing value as false.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, TextIO

from liquid import (
    BoundTemplate,
    Environment,
    FalsyStrictUndefined,
    Mode,
    RenderContext,
    is_undefined,
)
from liquid.builtin.content import ContentNode
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.exceptions import LiquidError
from liquid.static_analysis import Segments
from liquid.stringify import to_liquid_string

from shared.apple.template_compiler import Evaluator, compile_expression

# Tags a JSON template has no use for, or that would break the escaping contract:
# include/render read other templates; capture would escape its output twice; tablerow
# writes HTML; cycle/ifchanged/increment/decrement keep render state that serves HTML lists.
_REMOVED_TAGS = (
    "include",
    "render",
    "capture",
    "tablerow",
    "cycle",
    "ifchanged",
    "increment",
    "decrement",
)


class TemplateSyntaxError(ValueError):
    """The template does not parse; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class TemplateRenderError(ValueError):
    """Rendering failed (missing value, bad filter argument, resource limit)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class JsonText(str):
    """Already-serialised JSON, produced by the `json` filter: written without escaping."""

    __slots__ = ()


class _OptionalStrictUndefined(FalsyStrictUndefined):
    """Strict for output and filters; falsy in `{% if %}`; replaced by `| default`."""

    force_liquid_default = True


def _to_json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


# Made once: json.dumps builds a new encoder on every call that passes options. Same output.
_FILTER_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_to_json_value)
_encode_string = json.encoder.encode_basestring  # what json.dumps(s, ensure_ascii=False) runs


def json_filter(value: object) -> JsonText:
    """`{{ x | json }}`: the value as a complete JSON value."""
    if type(value) is int:  # most json outputs (points...): what the encoder writes for one
        return JsonText(int.__repr__(value))
    if is_undefined(value):
        str(value)  # a strict undefined raises UndefinedError naming the variable
    if isinstance(value, datetime | date):
        return JsonText(json.dumps(value.isoformat()))
    try:
        text = _FILTER_ENCODER.encode(value)
    except ValueError as exc:  # NaN or infinity: not JSON
        raise TypeError(str(exc)) from exc
    return JsonText(text)


def output_text(value: object) -> str:
    """The text a value stands for in a JSON string: dates in ISO 8601, others as Liquid
    writes them."""
    if type(value) is str:  # most values; to_liquid_string returns a str as it is
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return to_liquid_string(value, autoescape=False)


def escape_string_body(text: str) -> str:
    """`text` as the inside of a JSON string (json.dumps(text, ensure_ascii=False)[1:-1])."""
    return _encode_string(text)[1:-1]


def json_string_body(value: object) -> str:
    """The text `{{ value }}` writes: the json filter's output unchanged (a JSON value, for
    use outside quotes), anything else escaped so it cannot end the JSON string it is in."""
    if isinstance(value, JsonText):
        return str(value)
    return escape_string_body(output_text(value))


class _JsonOutputNode(OutputNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(json_string_body(self.expression.evaluate(context)))

    async def render_to_output_async(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(json_string_body(await self.expression.evaluate_async(context)))


class _JsonEchoNode(EchoNode):
    render_to_output = _JsonOutputNode.render_to_output
    render_to_output_async = _JsonOutputNode.render_to_output_async


class _JsonOutput(Output):
    node_class = _JsonOutputNode


class _JsonEcho(EchoTag):
    node_class = _JsonEchoNode


class JsonTemplateEnvironment(Environment):
    # A pass.json is a few KB: these limits only stop a runaway template.
    loop_iteration_limit: ClassVar[int | None] = 10_000
    output_stream_limit: ClassVar[int | None] = 512 * 1024
    local_namespace_limit: ClassVar[int | None] = 64 * 1024

    def __init__(self) -> None:
        super().__init__(
            tolerance=Mode.STRICT,
            undefined=_OptionalStrictUndefined,
            strict_filters=True,
            autoescape=False,
        )

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        for name in _REMOVED_TAGS:
            del self.tags[name]
        self.add_tag(_JsonOutput)
        self.add_tag(_JsonEcho)
        self.add_filter("json", json_filter)


ENVIRONMENT = JsonTemplateEnvironment()


_LOCATE_MAX_TOKENS = 2_000


def _line_of(source: str, index: int) -> int:
    return source.count("\n", 0, max(index, 0)) + 1


def _error_line(err: LiquidError) -> int | None:
    context = err.context()
    return context[0] if context else None


def _tokens(source: str) -> Iterator[int]:
    """Start index of each top-level token (text, output, tag) of `source`."""
    for token in ENVIRONMENT.tokenizer()(source):
        if token.start_index >= 0:
            yield token.start_index


def _locate_syntax_error(source: str, message: object) -> int | None:
    """Line of a syntax error Liquid reports without a position (e.g. an unclosed `if`).

    Parses growing prefixes of the template, ending at token boundaries; the first prefix
    failing with the same message ends at the token that caused it. Runs only on error, and
    gives up on very large templates rather than parse them thousands of times."""
    starts = sorted(set(_tokens(source)))
    if len(starts) > _LOCATE_MAX_TOKENS:
        return None
    for index, end in enumerate([*starts[1:], len(source)]):
        try:
            ENVIRONMENT.from_string(source[:end])
        except LiquidError as err:
            if err.message == message:
                return _line_of(source, starts[index])
    return None


@dataclass(frozen=True, eq=False)
class CompiledText:
    """A template made only of fixed text and `{{ }}` outputs whose expressions all compile
    (shared/apple/template_compiler.py): rendering writes texts[0], output 0, texts[1]...,
    each output as _JsonOutputNode writes it, without building a Liquid render context."""

    texts: tuple[str, ...]  # one more than evaluators
    evaluators: tuple[Evaluator, ...]
    # Longest rendering written here: at most 4 UTF-8 bytes per character stays within
    # Liquid's output stream limit, so Liquid would not have refused it for size.
    max_chars: int | None

    def render(self, context: Mapping[str, Any]) -> str | None:
        """The text Liquid renders, or None when Liquid must render (it may refuse)."""
        texts = self.texts
        parts = [texts[0]]
        try:
            for evaluate, text in zip(self.evaluators, texts[1:], strict=True):
                parts.append(json_string_body(evaluate(context)))
                parts.append(text)
        except Exception:  # a missing value, a filter refusing...: Liquid reports it
            return None
        rendered = "".join(parts)
        if self.max_chars is not None and len(rendered) > self.max_chars:
            return None
        return rendered


def compile_text(bound: BoundTemplate) -> CompiledText | None:
    """The compiled form of a template without tags, or None."""
    texts: list[str] = []
    evaluators: list[Evaluator] = []
    pending = ""
    for node in bound.nodes:
        if type(node) is ContentNode:
            pending += node.text
            continue
        if type(node) is not _JsonOutputNode:
            return None
        evaluator = compile_expression(node.expression, bound.env)
        if evaluator is None:
            return None
        texts.append(pending)
        evaluators.append(evaluator)
        pending = ""
    texts.append(pending)
    limit = bound.env.output_stream_limit
    return CompiledText(tuple(texts), tuple(evaluators), None if limit is None else limit // 4)


@dataclass(frozen=True, eq=False)
class JsonTemplate:
    """A parsed template; immutable and safe to render from many threads."""

    name: str
    source: str
    bound: BoundTemplate
    # Compiled once at parse time when the template allows it; Liquid renders otherwise.
    compiled: CompiledText | None = None

    def render(self, context: Mapping[str, Any]) -> str:
        if self.compiled is not None:
            rendered = self.compiled.render(context)
            if rendered is not None:
                return rendered
        return self.render_with_liquid(context)

    def render_with_liquid(self, context: Mapping[str, Any]) -> str:
        """Liquid's own rendering: the reference the compiled form must equal."""
        try:
            return self.bound.render(dict(context))
        except LiquidError as err:
            raise TemplateRenderError(str(err.message), _error_line(err)) from err


@dataclass(frozen=True)
class OutputSlot:
    """An output of a template made only of text and outputs (see `split_at_outputs`)."""

    node: _JsonOutputNode
    in_string: bool  # between the quotes of a JSON string; else where a JSON value goes


@dataclass(frozen=True, eq=False)
class TextAndOutputs:
    """A template with no tags, only fixed text and `{{ }}` outputs: rendering it writes
    texts[0], output 0, texts[1], ..., texts[-1]. Lets a caller learn the fixed structure
    once and, per render, evaluate just the outputs (`evaluate`)."""

    template: JsonTemplate
    texts: tuple[str, ...]  # one more than outputs
    outputs: tuple[OutputSlot, ...]
    fixed_size: int  # UTF-8 bytes of the texts, for the output stream limit

    def evaluate(self, context: Mapping[str, Any]) -> tuple[list[str], list[str]] | None:
        """What each output writes for `context`, evaluated exactly as `render` evaluates
        it, as (texts written, raws): for an output in a string, raw is the text before
        escaping; for one outside, the json filter's text again.

        None if rendering would not simply write them: an error (a missing value...), json
        filter text inside a string, plain text where a JSON value goes, or output near the
        size limit. `render` then gives the answer, or the error."""
        texts: list[str] = []
        raws: list[str] = []
        size = self.fixed_size
        try:
            for slot, value in zip(self.outputs, self._values(context), strict=True):
                if type(value) is str and slot.in_string:  # most outputs: plain text
                    text = _encode_string(value)[1:-1]  # escape_string_body
                    raw = value
                elif isinstance(value, JsonText) == slot.in_string:
                    return None
                else:
                    raw = str(value) if isinstance(value, JsonText) else output_text(value)
                    text = escape_string_body(raw) if slot.in_string else raw
                size += 4 * len(text)  # at most 4 UTF-8 bytes per character
                texts.append(text)
                raws.append(raw)
        except Exception:  # whatever it is, `render` reports it
            return None
        limit = self.template.bound.env.output_stream_limit
        return None if limit is not None and size > limit else (texts, raws)

    def _values(self, context: Mapping[str, Any]) -> list[object]:
        """The outputs' values: by the compiled functions when the template has them, else
        by Liquid through a render context made as `render` makes it."""
        compiled = self.template.compiled
        if compiled is not None:
            return [evaluate(context) for evaluate in compiled.evaluators]
        bound = self.template.bound
        render_context = bound.context_class(bound, globals=bound.make_globals(dict(context)))
        with render_context.extend(namespace=bound.make_partial_namespace(False, {})):
            return [slot.node.expression.evaluate(render_context) for slot in self.outputs]


def split_at_outputs(template: JsonTemplate) -> TextAndOutputs | None:
    """The template as fixed texts and outputs, each output placed inside or outside a JSON
    string by scanning the texts; None if the template has tags (if, for, echo...) or an
    output splits a backslash escape."""
    texts: list[str] = []
    outputs: list[OutputSlot] = []
    pending = ""
    in_string = escaped = False
    for node in template.bound.nodes:
        if type(node) is ContentNode:
            pending += node.text
            continue
        if type(node) is not _JsonOutputNode:
            return None
        for char in pending:
            if escaped:
                escaped = False
            elif in_string and char == "\\":
                escaped = True
            elif char == '"':
                in_string = not in_string
        if escaped:
            return None
        texts.append(pending)
        pending = ""
        outputs.append(OutputSlot(node, in_string))
    texts.append(pending)
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
    return TextAndOutputs(template, tuple(texts), tuple(outputs), size)


def parse_template(source: str, name: str) -> JsonTemplate:
    try:
        bound = ENVIRONMENT.from_string(source, name=name)
    except LiquidError as err:
        line = _error_line(err) or _locate_syntax_error(source, err.message)
        raise TemplateSyntaxError(str(err.message), line) from err
    return JsonTemplate(name=name, source=source, bound=bound, compiled=compile_text(bound))


@dataclass(frozen=True)
class Reference:
    """A variable the template reads from its context, e.g. ("pass", "metadata", "tier")."""

    segments: tuple[object, ...]  # str/int, or a nested list for a computed key
    text: str  # as written, e.g. "pass.metadata.tier"
    line: int


def referenced_variables(template: JsonTemplate) -> list[Reference]:
    """Variables the template reads from the render context (not its own assigns or loop
    variables), each once, at its first occurrence, in source order."""
    analysis = template.bound.analyze(include_partials=False)
    first: dict[str, tuple[int, Segments]] = {}  # text -> (source index, segments)
    for variables in analysis.globals.values():
        for variable in variables:
            text, index = str(variable), variable.span.index
            if text not in first or index < first[text][0]:
                first[text] = (index, variable.segments)
    ordered = sorted(first.items(), key=lambda item: (item[1][0], item[0]))
    return [
        Reference(tuple(segments), text, _line_of(template.source, index))
        for text, (index, segments) in ordered
    ]


def unknown_filters(template: JsonTemplate) -> list[tuple[str, int]]:
    """(filter name, line) for each filter the environment does not provide."""
    analysis = template.bound.analyze(include_partials=False)
    return sorted(
        (name, _line_of(template.source, spans[0].index))
        for name, spans in analysis.filters.items()
        if name not in ENVIRONMENT.filters
    )
