"""Liquid output expressions compiled once into Python functions of the render context.

A pass type's templates are rendered once per pass, thousands of times per campaign, with only
the data changing. Liquid evaluates an output by walking its expression tree through a render
context object built for every render (scope chain, filter lookup, argument evaluation): most
of a pass's render time. The expressions pass templates are made of are simple: a variable
path with literal names (`pass.metadata.tier`), through filters whose arguments are literals or
such paths (`| default: pass.id | json`). `compile_expression` turns those into functions that
do what Liquid does for them, step by step:

- the root name is read from the render arguments, which come first in Liquid's scope (only
  `partial`, which Liquid's render puts ahead of them, is never compiled); a root missing from
  them raises `NotCompiled` (Liquid would look further: built-ins such as `now`);
- each further name is `obj[name]`, as Liquid's `get_item` does for names other than `size`,
  `first` and `last` (those are never compiled); a KeyError or TypeError gives the same
  undefined object Liquid's context makes (so `| default` sees what it sees in Liquid);
- filters are the environment's own functions, called with the same arguments.

Anything else (indexes, computed keys, ternaries, ranges, filters needing the render context)
is not compiled: `compile_expression` returns None and Liquid evaluates it. Callers treat any
exception from a compiled function as "let Liquid render this one" (shared/apple/templates.py),
so Liquid stays the reference: its errors, its limits, its messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from liquid import Environment
from liquid.builtin.expressions.arguments import KeywordArgument, PositionalArgument
from liquid.builtin.expressions.filtered import Filter, FilteredExpression
from liquid.builtin.expressions.path import Path
from liquid.builtin.expressions.primitive import (
    FalseLiteral,
    FloatLiteral,
    IntegerLiteral,
    Literal,
    Nil,
    StringLiteral,
    TrueLiteral,
)
from liquid.builtin.filters.misc import default as builtin_default
from liquid.expression import Expression

Evaluator = Callable[[Mapping[str, Any]], object]

# get_item gives these names a meaning of their own (size of a list, first item...).
_SPECIAL_NAMES = frozenset({"size", "first", "last"})
# BoundTemplate.render puts {"partial": False} ahead of the render arguments.
_SHADOWED_ROOTS = frozenset({"partial"})
_LITERALS = (StringLiteral, IntegerLiteral, FloatLiteral, TrueLiteral, FalseLiteral)


# A name Liquid writes after a dot in its "is undefined" hints (else in brackets).
_DOTTED_NAME = re.compile(r"[\u0080-\uFFFFa-zA-Z_][\u0080-\uFFFFa-zA-Z0-9_-]*")


def _path_text(segments: Sequence[object]) -> str:
    """A path as Liquid's undefined hints write it: `a.b['c d']` (integers are left out, as
    Liquid leaves them)."""
    parts = [str(segments[0])]
    for segment in segments[1:]:
        if isinstance(segment, str):
            parts.append(f".{segment}" if _DOTTED_NAME.fullmatch(segment) else f"[{segment!r}]")
    return "".join(parts)


class NotCompiled(Exception):
    """This render meets a case the compiled function does not reproduce: use Liquid."""


class _Missing:
    """A name missing on a path whose next filter is `default` in an environment whose
    undefined forces the default: the undefined object Liquid would make only to have
    `default` replace it is never made."""


_MISSING = _Missing()


def _compile_path(path: Path, env: Environment, *, to_default: bool = False) -> Evaluator | None:
    segments = path.path
    if not all(type(segment) is str for segment in segments):
        return None
    names = [str(segment) for segment in segments]
    root, rest = names[0], tuple(names[1:])
    if root in _SHADOWED_ROOTS or _SPECIAL_NAMES.intersection(rest):
        return None
    undefined, token = env.undefined, path.token

    def walk(context: Mapping[str, Any]) -> object:
        try:
            value = context[root]
        except KeyError:
            raise NotCompiled(root) from None
        for index, name in enumerate(rest):
            try:
                value = value[name]
            except (KeyError, TypeError):
                if to_default:
                    return _MISSING
                # What RenderContext.get makes of a missing name, hint included.
                hint = f"{_path_text(segments[: index + 2])} is undefined"
                return undefined(root, hint=hint, token=token)
        return value

    if len(rest) == 1:
        (only,) = rest

        def one_name(context: Mapping[str, Any]) -> object:
            # `pass.id` in one step; `walk` tells what is missing.
            try:
                return context[root][only]
            except (KeyError, TypeError):
                return walk(context)

        return one_name
    if len(rest) != 2:
        return walk
    group, name = rest

    def two_names(context: Mapping[str, Any]) -> object:
        # `pass.metadata.tier`, the common shape, in one step; `walk` tells what is missing.
        try:
            return context[root][group][name]
        except (KeyError, TypeError):
            return walk(context)

    return two_names


def _constant(expression: Expression, env: Environment) -> tuple[bool, object]:
    """(True, value) for a literal whose evaluation never depends on the context."""
    if type(expression) is Nil:
        return True, None
    if (
        isinstance(expression, Literal)
        and type(expression) in _LITERALS
        and not (
            type(expression) is StringLiteral and env.autoescape  # Markup when autoescaping
        )
    ):
        return True, expression.value  # what Literal.evaluate returns
    return False, None


def _compile_value(expression: Expression, env: Environment) -> Evaluator | None:
    is_constant, value = _constant(expression, env)
    if is_constant:
        return lambda _context: value
    if type(expression) is Path:
        return _compile_path(expression, env)
    return None


_Step = Callable[[object, Mapping[str, Any]], object]


def _compile_filter(filter_: Filter, env: Environment) -> _Step | None:
    function = env.filters.get(filter_.name)
    if type(filter_) is not Filter or function is None or getattr(function, "with_context", False):
        return None
    if getattr(function, "with_environment", False):
        function = partial(function, environment=env)
    positional: list[Evaluator] = []
    keywords: list[tuple[str, Evaluator]] = []
    for argument in filter_.args:
        compiled = _compile_value(argument.value, env)
        if compiled is None or type(argument) not in (PositionalArgument, KeywordArgument):
            return None
        if type(argument) is KeywordArgument:
            keywords.append((argument.name, compiled))
        else:
            positional.append(compiled)
    apply = function
    if function is builtin_default and not keywords and len(positional) == 1:
        return _default_step(positional[0], env)
    constants = [_constant(argument.value, env) for argument in filter_.args]
    if not keywords and all(is_constant for is_constant, _ in constants):
        fixed = tuple(value for _, value in constants)  # e.g. `| truncate: 20`
        return lambda value, _context: apply(value, *fixed)

    def step(value: object, context: Mapping[str, Any]) -> object:
        return apply(
            value,
            *[argument(context) for argument in positional],
            **{name: argument(context) for name, argument in keywords},
        )

    return step


def _default_step(fallback: Evaluator, env: Environment) -> _Step:
    """`| default: x`, the most common filter of pass templates. Liquid's `default` returns
    a str as it is unless empty, an int as it is, and x for an undefined whose class forces
    it (this environment's): those three answered here, anything else by Liquid's function.
    x is evaluated only when used: reading it has no effect Liquid would show."""
    undefined = env.undefined
    forced = getattr(undefined, "force_liquid_default", False) is True

    def step(value: object, context: Mapping[str, Any]) -> object:
        kind = type(value)
        if kind is str:
            return value if value else fallback(context)
        if kind is int:
            return value
        if forced and (kind is undefined or kind is _Missing):
            return fallback(context)
        return builtin_default(value, fallback(context))

    return step


def _forces_default(filter_: Filter, env: Environment) -> bool:
    """`filter_` is compiled to _default_step and replaces any undefined value."""
    return (
        type(filter_) is Filter
        and env.filters.get(filter_.name) is builtin_default
        and len(filter_.args) == 1
        and type(filter_.args[0]) is PositionalArgument
        and getattr(env.undefined, "force_liquid_default", False) is True
    )


def compile_expression(expression: Expression, env: Environment) -> Evaluator | None:
    """A function giving what `expression.evaluate` gives for a context made of these render
    arguments, or None when the expression is not one this module reproduces."""
    if type(expression) is not FilteredExpression:
        return _compile_value(expression, env)
    filters = expression.filters or []
    if type(expression.left) is Path and filters and _forces_default(filters[0], env):
        left = _compile_path(expression.left, env, to_default=True)
    else:
        left = _compile_value(expression.left, env)
    steps = [_compile_filter(filter_, env) for filter_ in filters]
    if left is None or any(step is None for step in steps):
        return None
    chain = tuple(step for step in steps if step is not None)
    if not chain:
        return left
    if len(chain) == 1:  # most filtered outputs: one call less per render
        (only,) = chain
        return lambda context: only(left(context), context)

    def evaluate(context: Mapping[str, Any]) -> object:
        value = left(context)
        for step in chain:
            value = step(value, context)
        return value

    return evaluate
