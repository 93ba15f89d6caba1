"""Loading a TOML array of tables (`[[webhooks]]`, `[[providers]]`) with a marshmallow schema,
with errors that name the file, the entry and the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from marshmallow import Schema, ValidationError


def describe(messages: Any) -> str:
    """Marshmallow messages as one line of text."""
    if isinstance(messages, dict):
        return "; ".join(f"{key}: {describe(value)}" for key, value in messages.items())
    if isinstance(messages, list):
        return " ".join(describe(message) for message in messages)
    return str(messages)


def load_tables(
    entries: Any, name: str, schema: Schema, source: str, error: type[Exception]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`name[i]`, loaded entry) per table; raises `error` naming source, entry and field."""
    if not isinstance(entries, list):
        raise error(f"{source}: {name}: must be an array of tables ([[{name}]])")
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise error(f"{source}: {where}: must be a table")
        try:
            data: dict[str, Any] = schema.load(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{where}.{field}: {describe(messages)}"
                for field, messages in exc.messages_dict.items()
            )
            raise error(f"{source}: {problems}") from exc
        yield where, data
