"""The body of `POST /api/{tenantId}/push-updates`.

`filter` is the pass search grammar (shared/passes/search.py) as JSON: the same key names,
value limits and meaning as the query string of `GET /passes`, loaded into the same
PassFilter. `{}` selects every pass of the tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from api.passes.schemas import UpdatePassSchema
from shared.campaigns.segments import MAX_IDS, Segment
from shared.infra.clock import utcnow
from shared.infra.ids import PASS_ID_PATTERN
from shared.notifications import DEFAULT_KIND, KINDS
from shared.notifications.config import NotificationConfigError, parse_quiet_hours
from shared.passes import search

MAX_MESSAGE = 2048
MAX_SCHEDULE_AHEAD = timedelta(days=366)
MAX_THROUGHPUT = 100_000  # passes per second: far above what a deployment processes
LANGUAGE = r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*"


class DataFilter(fields.Field[Any]):
    """`{"crm": ["C-1"], "y2": {"customerId": ["9"]}}` (or `"y2.customerId"` as the key):
    below `identifiers` / `metadata`, each path's values, any of which matches."""

    def __init__(self, root: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_root = root

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError("must be a JSON object")
        paths: dict[str, tuple[str, ...]] = {}
        errors: dict[str, str] = {}
        self._collect(value, "", paths, errors)
        if errors:
            raise ValidationError(errors)
        return paths

    def _collect(
        self,
        value: Mapping[Any, Any],
        prefix: str,
        paths: dict[str, tuple[str, ...]],
        errors: dict[str, str],
    ) -> None:
        for key, item in value.items():
            path = f"{prefix}{key}"
            if isinstance(item, Mapping) and not prefix:
                self._collect(item, f"{path}.", paths, errors)
                continue
            try:
                found = search.data_path(f"{self.data_root}.{path}")
                if found is None or not _strings(item):
                    raise search.SearchError(path, "must be a non-empty list of strings")
                paths[found[1]] = search.check_values(path, item)
            except search.SearchError as exc:
                errors[path] = exc.reason


def _strings(item: Any) -> bool:
    return isinstance(item, list) and bool(item) and all(isinstance(v, str) for v in item)


class SegmentSchema(Schema):
    """Which passes: every condition must hold; several values of one condition are ORed."""

    class Meta:
        unknown = RAISE

    passType = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(max=search.MAX_VALUES),
        metadata={"description": "Only these pass types."},
    )
    identifiers = DataFilter(
        "identifiers",
        metadata={"description": 'Identifier equals one of the values: {"crm": ["C-1"]}.'},
    )
    metadata = DataFilter(
        "metadata",
        metadata={
            "description": "Metadata equals one of the values (a string, or the number it "
            'spells: "42" matches "42" and 42): {"store": ["42"]}.'
        },
    )
    apple = fields.String(validate=validate.OneOf(search.INSTALL_STATES))
    google = fields.String(validate=validate.OneOf(search.INSTALL_STATES))
    ids = fields.List(
        fields.String(validate=validate.Regexp(PASS_ID_PATTERN)),
        validate=validate.Length(min=1, max=MAX_IDS),
        metadata={"description": f"Only these pass ids (at most {MAX_IDS})."},
    )

    @post_load
    def to_segment(self, data: dict[str, Any], **_: Any) -> Segment:
        filters = search.PassFilter(
            pass_types=tuple(dict.fromkeys(data.get("passType", []))),
            identifiers=data.get("identifiers", {}),
            metadata=data.get("metadata", {}),
            apple=_installed(data.get("apple")),
            google=_installed(data.get("google")),
        )
        return Segment(filters=filters, ids=tuple(dict.fromkeys(data.get("ids", []))))


def _installed(state: str | None) -> bool | None:
    return None if state is None else state == "installed"


class MessageSchema(Schema):
    """A message for the holders: a lock-screen notification on their iPhones and a message
    on their Google Wallet objects (see the operation's `apple.notified`, `google.notified`
    and `google.notificationSuppressed` counters)."""

    class Meta:
        unknown = RAISE

    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_MESSAGE))
    localizedContent = fields.Dict(
        keys=fields.String(validate=validate.Regexp(LANGUAGE)),
        values=fields.String(validate=validate.Length(min=1, max=MAX_MESSAGE)),
        validate=validate.Length(max=50),
        load_default=dict,
    )
    kind = fields.String(
        validate=validate.OneOf(KINDS),
        load_default=DEFAULT_KIND,
        metadata={
            "description": "`transactional` (the default: what every message was before kinds "
            "existed, e.g. a balance or a gate change) alerts every holder; `marketing` alerts "
            "only holders whose marketing consent is granted (the others get it silently)."
        },
    )


class QuietHoursField(fields.Field[Any]):
    """`{"start": "22:00", "end": "07:00", "timeZone": "Europe/Paris"}`: a daily window
    (past midnight when end < start) in which alerts wait for its end; `null`: none."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return parse_quiet_hours(value).as_document()
        except NotificationConfigError as exc:
            raise ValidationError(str(exc)) from None


QUIET_HOURS_DOC: dict[str, Any] = {
    "type": "object",
    "nullable": True,
    "properties": {
        "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "timeZone": {"type": "string", "description": "IANA zone (default: the tenant's)."},
    },
    "required": ["start", "end"],
    "description": "This campaign's quiet hours, whatever its kind (default: the tenant's, "
    "for marketing messages): lock-screen alerts falling in the window wait for its end (in "
    "the holder's `metadata.timeZone` when the pass has one); data updates go at once. "
    "`null`: none for this campaign.",
}


class PushUpdateSchema(Schema):
    class Meta:
        unknown = RAISE

    filter = fields.Nested(
        SegmentSchema,
        required=True,
        metadata={"description": "The segment; `{}` selects every pass of the tenant."},
    )
    data = fields.Nested(
        UpdatePassSchema,
        load_default=dict,
        metadata={"description": "JSON Merge Patch of identifiers/metadata/additionalData."},
    )
    message = fields.Nested(MessageSchema, load_default=None)
    quietHours = QuietHoursField(allow_none=True, metadata=QUIET_HOURS_DOC)
    # Scheduling, pacing and previewing (docs/campaigns.md).
    scheduledAt = fields.AwareDateTime(
        load_default=None,
        metadata={
            "description": "ISO 8601 with a time zone, in the future (at most a year ahead): "
            "the campaign waits `scheduled` until then, cancellable, and starts within a few "
            "seconds of it."
        },
    )
    throughput = fields.Integer(
        strict=True,
        load_default=None,
        validate=validate.Range(min=1, max=MAX_THROUGHPUT),
        metadata={"description": "At most this many passes per second, across all workers."},
    )
    dryRun = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Preview: walk and render the segment as the campaign would, write, "
            "push and sign nothing, and report what it would do (`scheduledAt` and "
            "`throughput` are validated, not applied)."
        },
    )

    @validates("scheduledAt")
    def _in_the_future(self, value: Any, **_: Any) -> None:
        if value is None:
            return
        now = utcnow()
        if value <= now:
            raise ValidationError("must be in the future")
        if value - now > MAX_SCHEDULE_AHEAD:
            raise ValidationError("must be at most 366 days ahead")


class PushUpdateAcceptedSchema(Schema):
    correlationId = fields.String(required=True)
    status = fields.String(
        metadata={"description": "`queued`, or `scheduled` with a `scheduledAt`."}
    )


class CampaignPreviewWalletSchema(Schema):
    devicesToPush = fields.Integer(metadata={"description": "Apple: devices the run would push"})
    objectsToUpdate = fields.Integer(
        metadata={"description": "Google: objects the run would insert or PATCH"}
    )
    alerts = fields.Integer(
        required=True, metadata={"description": "lock-screen alerts the message would bring"}
    )


class CampaignPreviewSampleSchema(Schema):
    passId = fields.String(required=True)
    changes = fields.List(
        fields.String(), required=True, metadata={"description": "`label: before → after`"}
    )


class CampaignPreviewSchema(Schema):
    """What the campaign would do; the figures its counters would show."""

    matched = fields.Integer(required=True, metadata={"description": "passes in the segment"})
    wouldChange = fields.Integer(required=True, metadata={"description": "would count succeeded"})
    unchanged = fields.Integer(required=True)
    failed = fields.Integer(required=True, metadata={"description": "would not render"})
    apple = fields.Nested(CampaignPreviewWalletSchema, required=True)
    google = fields.Nested(CampaignPreviewWalletSchema, required=True)
    heldBack = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "messages that would arrive silently, by reason"},
    )
    samples = fields.List(fields.Nested(CampaignPreviewSampleSchema), required=True)


class CampaignPreviewResultSchema(Schema):
    dryRun = fields.Boolean(required=True)
    preview = fields.Nested(CampaignPreviewSchema, required=True)
