"""Connector templates: the pass-template language (shared/apple/templates.py), limited to
one root variable. An inbound mapping reads only `payload` (the caller's JSON); an outbound
body reads only `event` (the webhook event). Anything else a template names (a tenant
setting, another pass, the environment) is refused when the configuration loads, so a
template cannot reach beyond the data it is given."""

from __future__ import annotations

from shared.apple.templates import (
    JsonTemplate,
    TemplateSyntaxError,
    parse_template,
    referenced_variables,
    unknown_filters,
)

PAYLOAD = "payload"
EVENT = "event"


class ConnectorTemplateError(ValueError):
    """A connector template does not parse or reads outside its root; names the line."""


def parse_rooted(source: str, name: str, root: str) -> JsonTemplate:
    """Parse `source` and check it reads nothing but `root` (and its own assigns/loops)."""
    try:
        template = parse_template(source, name)
    except TemplateSyntaxError as exc:
        raise ConnectorTemplateError(_at(exc.line, str(exc))) from exc
    for reference in referenced_variables(template):
        if reference.segments[0] != root:
            raise ConnectorTemplateError(
                _at(reference.line, f"{reference.text!r} is outside {root!r}: only {root} is read")
            )
    for filter_name, line in unknown_filters(template):
        raise ConnectorTemplateError(_at(line, f"unknown filter {filter_name!r}"))
    return template


def _at(line: int | None, message: str) -> str:
    return f"line {line}: {message}" if line else message
