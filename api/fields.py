"""Marshmallow fields shared by the API's schemas."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

# Keys become MongoDB field names and query paths (`identifiers.crm`): no dots, no `$`.
KEY_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
MAX_STRING = 2048
SIGNATURE_PATTERN = re.compile(r"[0-9a-fA-F]{64}")
# BSON integers are signed 64-bit.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def scalar_problem(item: Any) -> str | None:
    """Why a JSON scalar cannot be stored as given, or None when it can."""
    if isinstance(item, str):
        return f"longer than {MAX_STRING} characters" if len(item) > MAX_STRING else None
    if isinstance(item, bool) or item is None:
        return None
    if isinstance(item, int):
        return None if INT64_MIN <= item <= INT64_MAX else "integer out of the 64-bit range"
    if isinstance(item, float):
        return None if math.isfinite(item) else "must be a finite number"
    return "must be a JSON value"


class JsonObject(fields.Field[Any]):
    """A JSON object whose keys are safe field names, nested at most `max_depth` levels
    (objects and lists both count), holding only values MongoDB stores faithfully."""

    def __init__(self, *, max_depth: int, scalar_values_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_depth = max_depth
        self.scalar_values_only = scalar_values_only

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError({"_": "must be a JSON object"})
        errors: dict[str, str] = {}
        self._check_object(value, "", 1, errors)
        if errors:
            raise ValidationError(errors)
        return value

    def _check_object(
        self, value: Mapping[Any, Any], path: str, depth: int, errors: dict[str, str]
    ) -> None:
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not KEY_PATTERN.fullmatch(str(key)):
                errors[where] = f"key must match {KEY_PATTERN.pattern}"
            else:
                self._check_value(item, where, depth, errors)

    def _check_value(self, item: Any, where: str, depth: int, errors: dict[str, str]) -> None:
        if isinstance(item, Mapping | list):
            if self.scalar_values_only and isinstance(item, list):
                errors[where] = "must be a string, number, boolean or null"
            elif depth >= self.max_depth:
                errors[where] = f"nested deeper than {self.max_depth} levels"
            elif isinstance(item, Mapping):
                self._check_object(item, where, depth + 1, errors)
            else:
                for index, element in enumerate(item):
                    self._check_value(element, f"{where}.{index}", depth + 1, errors)
        else:
            problem = scalar_problem(item)
            if problem:
                errors[where] = problem


class Identifiers(JsonObject):
    """External ids per system: `{"email": "a@b.c", "y2": {"customerId": "1233332"}}`.
    In a merge patch (`for_patch=True`) a null value removes an identifier."""

    def __init__(
        self, *, for_patch: bool = False, with_signatures: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(max_depth=2, scalar_values_only=True, **kwargs)
        self.for_patch = for_patch
        # Self-service issuing: `<key>.hmac` beside `<key>` carries the brand's signature.
        self.with_signatures = with_signatures

    def _check_object(
        self, value: Mapping[Any, Any], path: str, depth: int, errors: dict[str, str]
    ) -> None:
        if not (self.with_signatures and depth == 1):
            super()._check_object(value, path, depth, errors)
            return
        plain = {k: v for k, v in value.items() if not str(k).endswith(".hmac")}
        super()._check_object(plain, path, depth, errors)
        for key, signature in value.items():
            if str(key).endswith(".hmac") and (
                str(key)[:-5] not in plain
                or not isinstance(signature, str)
                or not SIGNATURE_PATTERN.fullmatch(signature)
            ):
                errors[str(key)] = "must be the hex HMAC-SHA256 of an identifier sent beside it"

    def _check_value(self, item: Any, where: str, depth: int, errors: dict[str, str]) -> None:
        if isinstance(item, Mapping):
            super()._check_value(item, where, depth, errors)
        elif item is None and self.for_patch:
            return
        elif not isinstance(item, str) or not item or len(item) > 256:
            errors[where] = "must be a non-empty string of at most 256 characters"
        elif item.strip(".") == "":
            errors[where] = "must not consist of dots only"
