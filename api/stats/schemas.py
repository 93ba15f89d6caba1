"""Query and response shapes of the statistics endpoints."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.infra.clock import utcnow
from shared.stats.reading import GROUPINGS, MAX_TIMELINE_DAYS

_DEFAULT_DAYS = 30


class StatsQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    passType = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Only passes of this pass type (default: all of them)."},
    )


class StatsSchema(Schema):
    passType = fields.String(allow_none=True, metadata={"description": "As asked, or null."})
    total = fields.Integer(metadata={"description": "Passes that exist (not deleted)."})
    active = fields.Integer(metadata={"description": "Passes installed in at least one wallet."})
    apple = fields.Integer(metadata={"description": "Passes installed in Apple Wallet."})
    google = fields.Integer(metadata={"description": "Passes saved in Google Wallet."})


class TimelineQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    from_ = fields.Date(
        data_key="from",
        metadata={"description": "First day (YYYY-MM-DD, UTC); default: 29 days before `to`."},
    )
    to = fields.Date(
        metadata={"description": "Last day, included (YYYY-MM-DD, UTC); default: today."}
    )
    by = fields.String(
        load_default="day",
        validate=validate.OneOf(["day"]),
        metadata={"description": "Bucket size: `day` (the only one)."},
    )
    groupBy = fields.String(
        load_default="passType",
        validate=validate.OneOf(GROUPINGS),
        metadata={
            "description": "`passType` (every event), `medium` or `tag`: installs credited "
            "to a link's medium or tags within the attribution window (only `installed`; an "
            "install without a medium counts under `(none)`, one with several tags under each)."
        },
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        last: date = data.get("to") or utcnow().date()
        first: date = data.get("from_") or last - timedelta(days=_DEFAULT_DAYS - 1)
        if first > last:
            raise ValidationError("must not be after `to`", "from")
        if (last - first).days + 1 > MAX_TIMELINE_DAYS:
            raise ValidationError(f"the range spans more than {MAX_TIMELINE_DAYS} days", "to")
        data["from_"], data["to"] = first, last


class WalletEventsSchema(Schema):
    installed = fields.Integer()
    uninstalled = fields.Integer()


class BucketSchema(Schema):
    day = fields.String(metadata={"description": "YYYY-MM-DD (UTC)."})
    group = fields.String(
        metadata={
            "description": "The pass type (`*`: campaigns over several pass types), medium or tag."
        }
    )
    created = fields.Integer(metadata={"description": "Passes created."})
    installed = fields.Integer(metadata={"description": "Passes added to a wallet."})
    uninstalled = fields.Integer(metadata={"description": "Passes removed from a wallet."})
    redeemed = fields.Integer(metadata={"description": "Passes redeemed."})
    notified = fields.Integer(metadata={"description": "Alerts that reached a holder."})
    wallets = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(WalletEventsSchema),
        metadata={"description": "installed and uninstalled per wallet (apple, google)."},
    )


class TimelineSchema(Schema):
    from_ = fields.String(data_key="from")
    to = fields.String()
    by = fields.String()
    groupBy = fields.String()
    buckets = fields.List(fields.Nested(BucketSchema))
