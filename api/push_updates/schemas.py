"""The body of `POST /api/{tenantId}/push-updates`.

`filter` is the pass search grammar (shared/passes/search.py) as JSON: the same key names,
value limits and meaning as the query string of `GET /passes`, loaded into the same
PassFilter. `{}` selects every pass of the tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from api.passes.schemas import UpdatePassSchema
from shared.campaigns.segments import MAX_IDS, Segment
from shared.infra.ids import PASS_ID_PATTERN
from shared.notifications import DEFAULT_KIND, KINDS
from shared.notifications.config import NotificationConfigError, parse_quiet_hours
from shared.passes import search

MAX_MESSAGE = 2048
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


class PushUpdateAcceptedSchema(Schema):
    correlationId = fields.String(required=True)
