from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from api.passes.schemas import BalanceSchema
from shared.lifecycle.balances import MAX_DELTA, MAX_REFERENCE_LENGTH
from shared.lifecycle.currencies import CURRENCIES
from shared.lifecycle.transitions import STATUSES

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class ExpirationDate(fields.AwareDateTime):
    """ISO 8601 with an offset; stored in UTC at MongoDB's millisecond precision."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        loaded: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            in_utc = loaded.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
            raise ValidationError("must be between 1970 and 9999") from None
        if in_utc < _EARLIEST:
            raise ValidationError("must be between 1970 and 9999")
        return in_utc.replace(microsecond=in_utc.microsecond // 1000 * 1000)


class StatusChangeSchema(Schema):
    """The state to put the pass in: a status, an expirationDate, or both."""

    class Meta:
        unknown = RAISE

    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={
            "description": "active → redeemed | expired | blocked | voided; blocked → active | "
            "voided; expired → active (with no or a future expirationDate) | voided; "
            "redeemed → voided; voided → nothing."
        },
    )
    expirationDate = ExpirationDate(
        allow_none=True,
        metadata={
            "description": "ISO 8601 with an offset; null removes it. An active pass's must "
            "lie in the future; past it, the pass becomes expired within a minute."
        },
    )

    @validates_schema
    def _something_to_change(self, data: dict[str, Any], **_: Any) -> None:
        if "status" not in data and "expirationDate" not in data:
            raise ValidationError("give status, expirationDate, or both", field_name="status")


class RedeemSchema(Schema):
    class Meta:
        unknown = RAISE


class RedeemLookupSchema(Schema):
    class Meta:
        unknown = RAISE

    barcode = fields.String(
        validate=validate.Length(min=1, max=2048),
        metadata={
            "description": "The scanned barcode message, instead of `id…` query parameters: "
            "the one pass of the tenant whose Apple pass shows it."
        },
    )


class _Delta(fields.Integer):
    """A signed whole number: bools, floats and strings are refused (strict)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            strict=True,
            validate=[
                validate.Range(min=-MAX_DELTA, max=MAX_DELTA),
                validate.NoneOf([0], error="must not be 0"),
            ],
            **kwargs,
        )


class BalanceChangeSchema(Schema):
    class Meta:
        unknown = RAISE

    delta = _Delta(
        required=True,
        metadata={
            "description": f"Signed change, at most {MAX_DELTA} either way and not 0: points, "
            "or money in minor units (cents)."
        },
    )
    currency = fields.String(
        validate=validate.OneOf(sorted(CURRENCIES), error="is not an ISO 4217 currency code"),
        metadata={
            "description": "ISO 4217 code; if given, that of the pass's money balance.",
            "example": "EUR",
        },
    )
    reference = fields.String(
        validate=validate.Length(min=1, max=MAX_REFERENCE_LENGTH),
        metadata={
            "description": "Your transaction id: a repeat with the same reference changes "
            "nothing and answers the current balance (`applied: false`)."
        },
    )


class PassStateSchema(Schema):
    passId = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    expirationDate = fields.DateTime(metadata={"description": "Absent when the pass has none."})


class StatusAcceptedSchema(PassStateSchema):
    correlationId = fields.String(required=True, metadata={"description": "The refresh job."})


class BalanceAnswerSchema(Schema):
    passId = fields.String(required=True)
    balance = fields.Nested(BalanceSchema, required=True)
    applied = fields.Boolean(
        required=True, metadata={"description": "false: the reference was applied before."}
    )
    correlationId = fields.String(
        metadata={"description": "The refresh job, when the balance changed."}
    )
