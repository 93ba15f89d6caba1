"""From a caller's JSON to one passwire API call: the connector's query and body templates
rendered over `payload`. A value the templates need and the payload lacks is named, so the
caller learns which field of its own body to fix."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from shared.apple.templates import JsonTemplate, TemplateRenderError
from shared.connectors.config import ConnectorAction
from shared.connectors.templates import PAYLOAD

_UNDEFINED = re.compile(r"^(\S+) is undefined$")


class MappingError(ValueError):
    """The payload cannot be mapped; `field` names what is missing or wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ApiCall:
    kind: str
    query: dict[str, str]
    body: Any
    idempotency_key: str | None = None


def map_payload(action: ConnectorAction, payload: Any) -> ApiCall:
    """The API call the payload stands for; raises MappingError."""
    query = _render(action.query, payload, "action.query") if action.query else {}
    if not isinstance(query, dict) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in query.values()
    ):
        raise MappingError("action.query", "must render a JSON object of strings")
    body = _render(action.body, payload, "action.body") if action.body else {}
    key = None
    if action.idempotency_key is not None:
        key = _text(action.idempotency_key, payload, "action.idempotency_key").strip()
        if not key:
            raise MappingError("action.idempotency_key", "renders empty for this payload")
    return ApiCall(action.kind, {k: str(v) for k, v in query.items()}, body, key)


def _text(template: JsonTemplate, payload: Any, where: str) -> str:
    try:
        return template.render({PAYLOAD: payload})
    except TemplateRenderError as exc:
        missing = _UNDEFINED.match(str(exc))
        if missing:
            raise MappingError(missing.group(1), "missing from the payload") from None
        raise MappingError(where, str(exc)) from None


def _render(template: JsonTemplate, payload: Any, where: str) -> Any:
    text = _text(template, payload, where)
    try:
        return json.loads(text)
    except ValueError:
        raise MappingError(where, "the rendered text is not JSON") from None
