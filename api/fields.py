"""Marshmallow fields shared by the API's schemas."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

# Keys become MongoDB field names and query paths (`identifiers.crm`): no dots, no `$`.
KEY_PATTERN = re.compile(r"^[A-Za-z][\w-]{0,63}$")
MAX_STRING = 2048


class JsonObject(fields.Field[Any]):
    """A JSON object whose keys are safe field names, nested at most `max_depth` levels."""

    def __init__(self, *, max_depth: int, scalar_values_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_depth = max_depth
        self.scalar_values_only = scalar_values_only

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        errors: dict[str, str] = {}
        self._check(value, "", 1, errors)
        if errors:
            raise ValidationError(errors)
        return value

    def _check(self, value: Any, path: str, depth: int, errors: dict[str, str]) -> None:
        if not isinstance(value, Mapping):
            errors[path or "_"] = "must be a JSON object"
            return
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not KEY_PATTERN.match(str(key)):
                errors[where] = f"key must match {KEY_PATTERN.pattern}"
            elif isinstance(item, Mapping):
                if depth >= self.max_depth:
                    errors[where] = f"nested deeper than {self.max_depth} levels"
                else:
                    self._check(item, where, depth + 1, errors)
            elif isinstance(item, list):
                if self.scalar_values_only:
                    errors[where] = "must be a string, number, boolean or null"
            elif isinstance(item, str):
                if len(item) > MAX_STRING:
                    errors[where] = f"longer than {MAX_STRING} characters"
            elif item is not None and not isinstance(item, int | float | bool):
                errors[where] = "must be a JSON value"


class Identifiers(JsonObject):
    """External ids per system: `{"email": "a@b.c", "y2": {"customerId": "1233332"}}`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_depth=2, scalar_values_only=True, **kwargs)

    def _check(self, value: Any, path: str, depth: int, errors: dict[str, str]) -> None:
        super()._check(value, path, depth, errors)
        if not isinstance(value, Mapping):
            return
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if where in errors or isinstance(item, Mapping):
                continue
            if not isinstance(item, str) or not item or len(item) > 256:
                errors[where] = "must be a non-empty string of at most 256 characters"
