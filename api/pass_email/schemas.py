from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.email.addresses import MAX_ADDRESS_LENGTH, address_problem
from shared.email.tenant_email import DEFAULT_LANGUAGE, LANGUAGE_PATTERN

MAX_NAME_LENGTH = 100
MAX_LANGUAGE_LENGTH = 35


def _recipient(value: str) -> None:
    # The reason never repeats the value: error answers and logs stay free of addresses.
    problem = address_problem(value)
    if problem is not None:
        raise ValidationError(problem)


def _printable(value: str) -> None:
    if not value.isprintable():
        raise ValidationError("must not contain line breaks or control characters")


class EmailPassSchema(Schema):
    class Meta:
        unknown = RAISE

    to = fields.String(
        required=True,
        validate=_recipient,
        metadata={
            "format": "email",
            "maxLength": MAX_ADDRESS_LENGTH,
            "description": "The holder's address: one plain ASCII `local@domain`, no display "
            "name. Kept in the operation only until the job sends; never returned.",
        },
    )
    language = fields.String(
        validate=[
            validate.Length(max=MAX_LANGUAGE_LENGTH),
            validate.Regexp(f"^{LANGUAGE_PATTERN.pattern}$", error="must be a language tag"),
        ],
        metadata={
            "description": "Language tag (`fr`, `fr-CA`) of the templates to use: the "
            "tenant's templates for it, else for its primary language (`fr`), else "
            f"`{DEFAULT_LANGUAGE}`.",
        },
    )
    name = fields.String(
        validate=[validate.Length(min=1, max=MAX_NAME_LENGTH), _printable],
        metadata={"description": "The holder's name, for the greeting; forgotten like `to`."},
    )
