from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from api.errors import ApiError, field_errors
from api.fields import Identifiers, JsonObject
from api.links.schemas import LinksRequestSchema, LinksSchema
from shared.lifecycle import config as lifecycle_config
from shared.lifecycle import transitions
from shared.notifications import consent
from shared.passes import search

# How the JSON-object fields read in the OpenAPI document (api/fields.py validates them): an
# identifier is a string, or one nested object of strings; in a merge patch null removes it.
_IDENTIFIER = {"type": "string", "minLength": 1, "maxLength": 256}
_IDENTIFIERS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [_IDENTIFIER, {"type": "object", "additionalProperties": _IDENTIFIER}]
    },
}
_PATCH_IDENTIFIER = {**_IDENTIFIER, "nullable": True}
_PATCH_IDENTIFIERS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [_PATCH_IDENTIFIER, {"type": "object", "additionalProperties": _PATCH_IDENTIFIER}]
    },
}
_KEYS = "Keys: a letter, then up to 63 letters, digits, '_' or '-'."


class JsonBoolean(fields.Boolean):
    """true or false as JSON writes them: no "yes", no 1."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class MarketingConsentSchema(Schema):
    class Meta:
        unknown = RAISE

    granted = JsonBoolean(
        required=True,
        metadata={"description": "Whether the holder agreed to marketing messages."},
    )
    at = fields.AwareDateTime(
        metadata={"description": "When the holder gave or refused it (default: now)."}
    )
    source = fields.String(
        validate=validate.Length(min=1, max=consent.SOURCE_MAX),
        metadata={"description": 'Where it was given, e.g. "signup-form" (default "api").'},
    )


class ConsentSchema(Schema):
    """The holder's consent: marketing messages alert only holders who granted it."""

    class Meta:
        unknown = RAISE

    marketing = fields.Nested(MarketingConsentSchema, required=True)


_CONSENT_DOC = (
    "The holder's marketing consent; each change is kept in an audit trail (who, when, "
    "source) that erasing the pass removes."
)


class CreatePassQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    passType = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Pass type (template) of the tenant to issue."},
    )


class CreatePassSchema(Schema):
    class Meta:
        unknown = RAISE

    identifiers = Identifiers(
        with_signatures=True,
        load_default=dict,
        metadata={
            **_IDENTIFIERS,
            "description": 'External identifiers per system, e.g. {"crm": "C-1233332"} or '
            '{"y2": {"customerId": "1233332"}}. Without a credential (self-service), '
            "`<key>.hmac` beside `<key>` carries its hex HMAC-SHA256. " + _KEYS,
        },
    )
    metadata = JsonObject(
        max_depth=2,
        scalar_values_only=True,
        load_default=dict,
        metadata={
            "type": "object",
            "description": 'Segmentation values, e.g. {"store": "42"}: strings (at most 2048 '
            "characters), numbers, booleans or null, or one nested object of those. " + _KEYS,
        },
    )
    additionalData = JsonObject(
        max_depth=5,
        load_default=dict,
        metadata={
            "type": "object",
            "description": "Display-only extras rendered on the pass: any JSON nested at most "
            "5 levels. " + _KEYS,
        },
    )
    consent = fields.Nested(ConsentSchema, metadata={"description": _CONSENT_DOC})
    links = fields.Nested(
        LinksRequestSchema,
        metadata={
            "description": "Also answer the pass's links (download page, direct Apple and "
            "Google links) in the 202, as `POST /passes/{passId}/links` does; the page says "
            "the pass is being prepared until the job is done."
        },
    )


class UpdatePassSchema(Schema):
    """A JSON Merge Patch (RFC 7396) of the pass's data: null removes a key, omitted stays."""

    class Meta:
        unknown = RAISE

    identifiers = Identifiers(for_patch=True, metadata=_PATCH_IDENTIFIERS)
    metadata = JsonObject(max_depth=2, scalar_values_only=True, metadata={"type": "object"})
    additionalData = JsonObject(max_depth=5, metadata={"type": "object"})


class PatchResultSchema(Schema):
    correlationId = fields.String(required=True)
    passId = fields.String(required=True)
    operation = fields.Dict(required=True, metadata={"description": "The finished operation."})
    # The pass as `GET /passes/{passId}` shows it, null if it was deleted meanwhile.
    pass_ = fields.Dict(data_key="pass", allow_none=True, required=True, attribute="pass")


class PatchOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    bypassQueue = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Run the update in this request and answer 200 with the result "
            "(the pass and the operation) instead of 202; for a single pass a caller waits on."
        },
    )


class PatchPassSchema(UpdatePassSchema):
    """PATCH of one pass: the merge patch, and optionally a new pass type and options."""

    passType = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "Move the pass to another pass type of the tenant (re-rendered with "
            "its templates). Refused (409) when the pass is in a wallet whose pass type "
            "identity differs: Apple's passTypeIdentifier or Google's class."
        },
    )
    options = fields.Nested(PatchOptionsSchema, load_default=dict)
    consent = fields.Nested(
        ConsentSchema,
        metadata={"description": _CONSENT_DOC + " Recorded at once, before the update runs."},
    )


DEVICES = ("apple", "google", "auto", "preview")


class PassQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    device = fields.String(
        validate=validate.OneOf(DEVICES),
        metadata={
            "description": "`apple`: the signed .pkpass instead of the JSON pass. `google`: a "
            "302 to the Save to Google Wallet link. `auto`: one of those two, picked from the "
            "User-Agent (Android → Google, else Apple when the pass has it). `preview`: the "
            "rendered Apple pass.json and Google object as JSON (as `…/preview` answers)."
        },
    )


class PreviewSchema(Schema):
    apple = fields.Dict(
        allow_none=True,
        required=True,
        metadata={
            "description": "The rendered pass.json, its `authenticationToken` replaced by "
            '`"[redacted]"`.'
        },
    )
    google = fields.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "`classId`, `objectId` and the rendered `object`."},
    )


class AcceptedSchema(Schema):
    correlationId = fields.String(required=True)
    passId = fields.String(required=True)
    links = fields.Nested(LinksSchema, metadata={"description": "When `links` was asked for."})


REDIRECT_HEADERS: dict[str, Any] = {
    "Location": {
        "description": "The Save to Google Wallet URL (`device=google`) or the preview.",
        "required": True,
        "schema": {"type": "string"},
    }
}

# Answers that start a job (202) say where to follow it.
ACCEPTED_HEADERS: dict[str, Any] = {
    "Location": {
        "description": "The job's operation, to follow with GET: "
        "`/api/{tenantId}/operations/{correlationId}`.",
        "required": True,
        "schema": {"type": "string"},
    }
}


class BalanceSchema(Schema):
    amount = fields.Integer(
        required=True, metadata={"description": "Points, or money in minor units (cents)."}
    )
    unit = fields.String(required=True, metadata={"enum": list(lifecycle_config.UNITS)})
    currency = fields.String(metadata={"description": "ISO 4217 code of a money balance."})


class PassSchema(Schema):
    id = fields.String(required=True)
    passType = fields.String(required=True)
    identifiers = fields.Dict()
    metadata = fields.Dict()
    additionalData = fields.Dict()
    providers = fields.Dict()
    status = fields.String(metadata={"enum": list(transitions.STATUSES)})
    expirationDate = fields.DateTime(metadata={"description": "When the pass expires, if ever."})
    balance = fields.Nested(
        BalanceSchema, metadata={"description": "The balance passwire keeps, once it has one."}
    )
    consent = fields.Dict(metadata={"description": "`{marketing: {granted, at, source}}`."})
    creationDate = fields.DateTime()
    lastUpdateDate = fields.DateTime()


MAX_PAGE_INDEX = 1_000_000


class SortField(fields.String):
    """`sort=-lastUpdateDate,id`: loaded as [(path, direction)], tie-breaker not included."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            return search.parse_sort(raw)
        except search.SearchError as exc:
            raise ValidationError(exc.reason) from None


class SearchPassesQuerySchema(Schema):
    """The fixed query parameters of a pass search (identifiers.* / metadata.* are dynamic)."""

    class Meta:
        unknown = RAISE

    passType = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(max=search.MAX_VALUES),
        metadata={"description": "Only these pass types (repeat the parameter for several)."},
    )
    apple = fields.String(
        validate=validate.OneOf(search.INSTALL_STATES),
        metadata={"description": "`installed` or `notInstalled` in Apple Wallet."},
    )
    barcode = fields.String(
        validate=validate.Length(min=1, max=search.MAX_BARCODE_LENGTH),
        metadata={
            "description": "A scanned barcode message: the pass whose Apple pass shows it "
            "(nothing is redeemed or changed)."
        },
    )
    google = fields.String(
        validate=validate.OneOf(search.INSTALL_STATES),
        metadata={"description": "`installed` or `notInstalled` in Google Wallet."},
    )
    sort = SortField(
        metadata={
            "description": "Comma-separated fields, `-` for descending: id, passType, "
            "creationDate, lastUpdateDate, apple, google (install date), identifiers.<key>, "
            "metadata.<key>. Missing values sort first ascending; ties end by id. Default id."
        },
    )
    pageIndex = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_PAGE_INDEX),
        metadata={"description": "Zero-based page number."},
    )
    pageSize = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Passes per page (1 to 500)."},
    )


# Query parameters of a pass search that are not in the schema, for the OpenAPI document.
SEARCH_DYNAMIC_PARAMETERS: list[dict[str, Any]] = [
    {
        "in": "query",
        "name": "identifiers.<key>",
        "required": False,
        "schema": {"type": "string"},
        "description": "Identifier equals the value, e.g. `identifiers.crm=C-1` or, for a "
        "nested one, `identifiers.y2.customerId=123`. Repeat for any of several values.",
    },
    {
        "in": "query",
        "name": "metadata.<key>",
        "required": False,
        "schema": {"type": "string"},
        "description": "Metadata equals the string, or the number it spells when it is a "
        'JSON number (`metadata.store=42` matches "42" and 42). Repeat for any of several.',
    },
]


_SINGLE_VALUED = frozenset({"apple", "google", "barcode", "sort", "pageIndex", "pageSize"})


@dataclass(frozen=True)
class PassSearch:
    filters: search.PassFilter
    sort: search.Sort  # with the `_id` tie-breaker
    page_index: int
    page_size: int


def load_pass_search(args: MultiDict[str, str]) -> PassSearch:
    """Validate a search's raw query string; 422 naming every parameter at fault."""
    errors: list[dict[str, str]] = []
    fixed: dict[str, Any] = {}
    data: dict[str, dict[str, tuple[str, ...]]] = {root: {} for root in search.DATA_ROOTS}
    for name, values in args.lists():
        try:
            found = search.data_path(name)
            if found is not None:
                data[found[0]][found[1]] = search.check_values(name, values)
            elif name == "passType":
                fixed[name] = values
            elif name in _SINGLE_VALUED and len(values) > 1:
                errors.append({"field": name, "reason": "give it at most once"})
            else:
                fixed[name] = values[0]  # unknown names are refused by the schema
        except search.SearchError as exc:
            errors.append({"field": exc.field, "reason": exc.reason})
    loaded: dict[str, Any] = {}
    try:
        loaded = SearchPassesQuerySchema().load(fixed)
    except ValidationError as exc:
        errors.extend(field_errors(exc.messages))
    if errors:
        raise ApiError(422, "The request is invalid.", errors=errors)
    filters = search.PassFilter(
        pass_types=tuple(dict.fromkeys(loaded.get("passType", []))),
        identifiers=data["identifiers"],
        metadata=data["metadata"],
        apple=_installed(loaded.get("apple")),
        google=_installed(loaded.get("google")),
        barcode=loaded.get("barcode"),
    )
    return PassSearch(
        filters=filters,
        sort=search.with_tie_breaker(loaded.get("sort", [])),
        page_index=loaded["pageIndex"],
        page_size=loaded["pageSize"],
    )


def _installed(state: str | None) -> bool | None:
    return None if state is None else state == "installed"


LOOKUP_PARAMETER: dict[str, Any] = {
    "in": "query",
    "name": "id.<system>.<key>",
    "required": True,
    "schema": {"type": "string"},
    "description": "The pass to update: `id=<passId>`, or an external identifier such as "
    "`id.crm=C-1` or `id.y2.customerId=1233332` (all given must match).",
}


def load_pass_lookup(args: MultiDict[str, str]) -> dict[str, str]:
    """`id=<passId>` and `id.<path>=<value>` → {"_id" or "identifiers.<path>": value}."""
    lookup: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for name, values in args.lists():
        if name != "id" and not name.startswith("id."):
            errors.append({"field": name, "reason": "Unknown field."})
            continue
        if len(values) != 1 or not 0 < len(values[0]) <= 256:
            errors.append({"field": name, "reason": "give one value of 1 to 256 characters"})
            continue
        if name == "id":
            lookup["_id"] = values[0]
            continue
        try:
            found = search.data_path("identifiers." + name[3:])
        except search.SearchError:
            found = None
        if found is None:
            errors.append({"field": name, "reason": "must be id.<key> or id.<system>.<key>"})
        else:
            lookup[f"identifiers.{found[1]}"] = values[0]
    if not lookup and not errors:
        errors.append({"field": "id", "reason": "name the pass: id=… or id.<system>.<key>=…"})
    if errors:
        raise ApiError(422, "The request is invalid.", errors=errors)
    return lookup
