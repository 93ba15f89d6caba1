"""Structure of Google Wallet classes and objects, from Google's Wallet REST reference (v1).

`validate_class(doc, kind)` and `validate_object(doc, kind)` check the JSON a template
rendered and return every problem as (path, reason), the path dotted with list indexes as
numbers ("textModulesData.0.body"). Google refuses a request with a key it does not know, but
only later, in a worker: so each resource's keys are an allowlist here, and an unknown key is
refused with its name. Keys passwire sets (ids, the callback URL) and keys only Google sets
(hasUsers, review...) are refused too, each with its own reason.

The structures templates commonly write (barcode, images, localized strings, the modules,
time intervals, points, money, event details) are checked key by key; rarer ones
(rotatingBarcode, appLinkData, valueAddedModuleData...) only for their JSON type, and Google
checks the rest. Enumerations take Google's canonical UPPER_CASE values (Google also accepts
legacy camelCase spellings; one spelling keeps templates and the code reading them simple).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TypeGuard
from urllib.parse import urlsplit

Problems = list[tuple[str, str]]
Rule = Callable[[object, str], Problems]  # (value, its path) -> problems

GOOGLE_KINDS = ("loyalty", "offer", "giftCard", "eventTicket", "generic")
OBJECT_STATES = ("ACTIVE", "COMPLETED", "EXPIRED", "INACTIVE")
BARCODE_TYPES = (
    "AZTEC",
    "CODABAR",
    "CODE_128",
    "CODE_39",
    "DATA_MATRIX",
    "EAN_13",
    "EAN_8",
    "ITF_14",
    "PDF_417",
    "QR_CODE",
    "TEXT_ONLY",
    "UPC_A",
)
# Set by passwire on every class or object; a template must leave them out.
OWNED_CLASS_KEYS = ("id", "callbackOptions")
OWNED_OBJECT_KEYS = ("id", "classId")
# Keys Google's reference lists that a template must not write, and why.
_NOT_FOR_TEMPLATES = {
    "classReference": "is set by Google; remove it from the template",
    "hasUsers": "is set by Google; remove it from the template",
    "hasLinkedDevice": "is set by Google; remove it from the template",
    "review": "is set by Google; remove it from the template",
    "kind": "is deprecated; remove it from the template",
    "version": "is deprecated; remove it from the template",
    "allowMultipleUsersPerObject": "is deprecated; use multipleDevicesAndHoldersAllowedStatus",
}


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _simple(accepts: Callable[[object], bool], reason: str) -> Rule:
    def rule(value: object, path: str) -> Problems:
        return [] if accepts(value) else [(path, reason)]

    return rule


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


STRING = _simple(lambda value: isinstance(value, str), "must be a string")
BOOLEAN = _simple(lambda value: isinstance(value, bool), "must be true or false")
INTEGER = _simple(
    lambda value: isinstance(value, int) and not isinstance(value, bool), "must be an integer"
)
NUMBER = _simple(_is_number, "must be a number")
OBJECT = _simple(lambda value: isinstance(value, dict), "must be an object")
ARRAY = _simple(lambda value: isinstance(value, list), "must be an array")
# int64 values travel as JSON strings in Google's API; a JSON integer is accepted as well.
INT64 = _simple(
    lambda value: (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value) is not None)
    ),
    "must be an integer (as a number or a string of digits)",
)
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
HEX_COLOR = _simple(
    lambda value: isinstance(value, str) and _HEX_COLOR.fullmatch(value) is not None,
    "must be a color as #rrggbb (or #rgb), e.g. #3b2418",
)
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
LANGUAGE = _simple(
    lambda value: isinstance(value, str) and _LANGUAGE_TAG.fullmatch(value) is not None,
    "must be a BCP 47 language tag such as en, fr or pt-BR",
)
COUNTRY = _simple(
    lambda value: isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value) is not None,
    "must be an ISO 3166-1 alpha-2 country code such as US or FR",
)
CURRENCY = _simple(
    lambda value: isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value) is not None,
    "must be an ISO 4217 currency code such as USD or EUR",
)


def _enum(*values: str) -> Rule:
    return _simple(lambda value: value in values, f"must be one of {', '.join(values)}")


def _in_range(low: float, high: float) -> Rule:
    def accepts(value: object) -> bool:
        return _is_number(value) and low <= value <= high

    return _simple(accepts, f"must be a number from {low:g} to {high:g}")


def _array_of(item: Rule) -> Rule:
    def rule(value: object, path: str) -> Problems:
        if not isinstance(value, list):
            return [(path, "must be an array")]
        return [problem for index, v in enumerate(value) for problem in item(v, _join(path, index))]

    return rule


def _struct(
    resource: str,
    keys: Mapping[str, Rule],
    *,
    required: tuple[str, ...] = (),
    exactly_one_of: tuple[str, ...] = (),
    refused: Mapping[str, str] | None = None,
) -> Rule:
    """An object of Google's `resource` type: only `keys`, each checked by its rule.
    `refused` gives the reason for keys that exist in Google's reference but not here."""
    refusals = refused or {}

    def rule(value: object, path: str) -> Problems:
        if not isinstance(value, dict):
            return [(path, "must be an object")]
        problems: Problems = [
            (_join(path, key), "is required") for key in required if key not in value
        ]
        if exactly_one_of and sum(key in value for key in exactly_one_of) != 1:
            problems.append((path, f"needs exactly one of {', '.join(exactly_one_of)}"))
        for key, item in value.items():
            check = keys.get(key)
            if key in refusals:
                problems.append((_join(path, key), refusals[key]))
            elif check is None:
                problems.append(
                    (_join(path, key), f"unknown key (not in Google Wallet's {resource} reference)")
                )
            else:
                problems.extend(check(item, _join(path, key)))
        return problems

    return rule


# ISO 8601 extended date and time, nanoseconds at most, offset optional (may carry seconds).
_DATE_TIME = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})T(?P<h>\d{2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.\d{1,9})?)?"
    r"(?P<offset>Z|[+-](?P<oh>\d{2}):(?P<om>\d{2})(?::\d{2})?)?"
)


def _date_time(*, offset_required: bool) -> Rule:
    example = "2025-01-31T09:00:00+01:00"
    reason = (
        f"must be an ISO 8601 date and time with an offset, e.g. {example}"
        if offset_required
        else f"must be an ISO 8601 date and time, e.g. {example} or 2025-01-31T09:00:00"
    )

    def accepts(value: object) -> bool:
        match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
        if match is None or (offset_required and not match["offset"]):
            return False
        try:
            datetime(
                int(match["y"]),
                int(match["mo"]),
                int(match["d"]),
                int(match["h"]),
                int(match["mi"]),
                int(match["s"] or 0),
            )
            if match["oh"]:
                timezone(timedelta(hours=int(match["oh"]), minutes=int(match["om"])))
        except ValueError:  # day 31 of a 30-day month, hour 25, offset of 24 hours...
            return False
        return True

    return _simple(accepts, reason)


def _https_url(value: object, path: str) -> Problems:
    if not isinstance(value, str):
        return [(path, "must be a string")]
    try:
        parts = urlsplit(value)
        secure = parts.scheme == "https" and bool(parts.hostname)
    except ValueError:  # e.g. a malformed [IPv6] host
        secure = False
    if not secure or any(char.isspace() for char in value):
        return [(path, "must be an https:// URL (Google fetches images over HTTPS)")]
    return []


_LINK_SCHEMES = ("https", "http", "mailto", "tel", "geo")


def _link_uri(value: object, path: str) -> Problems:
    if not isinstance(value, str):
        return [(path, "must be a string")]
    scheme, _, rest = value.partition(":")
    web = scheme in ("http", "https")
    try:
        valid = bool(rest) and (not web or bool(urlsplit(value).hostname))
    except ValueError:
        valid = False
    if scheme not in _LINK_SCHEMES or not valid or any(char.isspace() for char in value):
        return [(path, f"must be a URI with one of the schemes {', '.join(_LINK_SCHEMES)}")]
    return []


_TRANSLATED = _struct(
    "TranslatedString", {"language": LANGUAGE, "value": STRING}, required=("language", "value")
)
LOCALIZED = _struct(
    "LocalizedString",
    {"defaultValue": _TRANSLATED, "translatedValues": _array_of(_TRANSLATED)},
    required=("defaultValue",),
)
IMAGE = _struct(
    "Image",
    {
        "sourceUri": _struct(
            "ImageUri",
            {"uri": _https_url, "description": STRING, "localizedDescription": LOCALIZED},
            required=("uri",),
        ),
        "contentDescription": LOCALIZED,
    },
    required=("sourceUri",),
    refused={"privateImageId": "passwire sends images by URL; use sourceUri.uri"},
)
URI = _struct(
    "Uri",
    {"uri": _link_uri, "description": STRING, "localizedDescription": LOCALIZED, "id": STRING},
    required=("uri",),
)
BARCODE = _struct(
    "Barcode",
    {
        "type": _enum(*BARCODE_TYPES),
        "value": STRING,
        "alternateText": STRING,
        "renderEncoding": _enum("UTF_8"),
        "showCodeText": LOCALIZED,
    },
    required=("type", "value"),
)
TEXT_MODULE = _struct(
    "TextModuleData",
    {
        "id": STRING,
        "header": STRING,
        "body": STRING,
        "localizedHeader": LOCALIZED,
        "localizedBody": LOCALIZED,
    },
)
LINKS_MODULE = _struct("LinksModuleData", {"uris": _array_of(URI)})
IMAGE_MODULE = _struct(
    "ImageModuleData", {"id": STRING, "mainImage": IMAGE}, required=("mainImage",)
)
# passwire writes an expiration with an offset, and Google refuses an interval whose start
# and end disagree on having one: so offsets are required here.
DATE_WITH_OFFSET = _struct(
    "DateTime", {"date": _date_time(offset_required=True)}, required=("date",)
)
TIME_INTERVAL = _struct("TimeInterval", {"start": DATE_WITH_OFFSET, "end": DATE_WITH_OFFSET})
LAT_LONG = _struct(
    "LatLongPoint",
    {"latitude": _in_range(-90, 90), "longitude": _in_range(-180, 180)},
    required=("latitude", "longitude"),
)
MESSAGE = _struct(
    "Message",
    {
        "id": STRING,
        "header": STRING,
        "body": STRING,
        "localizedHeader": LOCALIZED,
        "localizedBody": LOCALIZED,
        "displayInterval": TIME_INTERVAL,
        "messageType": _enum("TEXT", "EXPIRATION_NOTIFICATION", "TEXT_AND_NOTIFY"),
    },
)
GROUPING = _struct("GroupingInfo", {"groupingId": STRING, "sortIndex": INTEGER})
MONEY = _struct(
    "Money", {"currencyCode": CURRENCY, "micros": INT64}, required=("currencyCode", "micros")
)
LOYALTY_POINTS = _struct(
    "LoyaltyPoints",
    {
        "label": STRING,
        "localizedLabel": LOCALIZED,
        "balance": _struct(
            "LoyaltyPointsBalance",
            {"string": STRING, "int": INTEGER, "double": NUMBER, "money": MONEY},
            exactly_one_of=("string", "int", "double", "money"),
        ),
    },
)
EVENT_SEAT = _struct(
    "EventSeat", {"seat": LOCALIZED, "row": LOCALIZED, "section": LOCALIZED, "gate": LOCALIZED}
)
EVENT_RESERVATION = _struct("EventReservationInfo", {"confirmationCode": STRING})
EVENT_VENUE = _struct("EventVenue", {"name": LOCALIZED, "address": LOCALIZED})
EVENT_DATE_TIME = _struct(
    "EventDateTime",
    {
        "start": _date_time(offset_required=False),
        "end": _date_time(offset_required=False),
        "doorsOpen": _date_time(offset_required=False),
        "doorsOpenLabel": _enum("DOORS_OPEN", "GATES_OPEN"),
        "customDoorsOpenLabel": LOCALIZED,
    },
)
STRINGS = _array_of(STRING)
NOTIFY_PREFERENCE = _enum("NOTIFY_ON_UPDATE")

# Keys every object kind has.
_OBJECT_BASE: dict[str, Rule] = {
    "appLinkData": OBJECT,
    "barcode": BARCODE,
    "groupingInfo": GROUPING,
    "heroImage": IMAGE,
    "imageModulesData": _array_of(IMAGE_MODULE),
    "linkedObjectIds": STRINGS,
    "linksModuleData": LINKS_MODULE,
    "merchantLocations": _array_of(LAT_LONG),
    "messages": _array_of(MESSAGE),
    "passConstraints": OBJECT,
    "rotatingBarcode": OBJECT,
    "saveRestrictions": OBJECT,
    "smartTapRedemptionValue": STRING,
    "state": _enum(*OBJECT_STATES),
    "textModulesData": _array_of(TEXT_MODULE),
    "validTimeInterval": TIME_INTERVAL,
    "valueAddedModuleData": ARRAY,
}
# ...and all but generic objects.
_OBJECT_CLASSIC: dict[str, Rule] = {
    **_OBJECT_BASE,
    "disableExpirationNotification": BOOLEAN,
    "infoModuleData": OBJECT,
    "locations": _array_of(LAT_LONG),
    "notifyPreference": NOTIFY_PREFERENCE,
}
OBJECT_KEYS: dict[str, dict[str, Rule]] = {
    "loyalty": {
        **_OBJECT_CLASSIC,
        "accountId": STRING,
        "accountName": STRING,
        "linkedOfferIds": STRINGS,
        "loyaltyPoints": LOYALTY_POINTS,
        "secondaryLoyaltyPoints": LOYALTY_POINTS,
    },
    "offer": _OBJECT_CLASSIC,
    "giftCard": {
        **_OBJECT_CLASSIC,
        "balance": MONEY,
        "balanceUpdateTime": DATE_WITH_OFFSET,  # Google: "Offset is required"
        "cardNumber": STRING,
        "eventNumber": STRING,
        "pin": STRING,
    },
    "eventTicket": {
        **_OBJECT_CLASSIC,
        "faceValue": MONEY,
        "hexBackgroundColor": HEX_COLOR,
        "linkedOfferIds": STRINGS,
        "reservationInfo": EVENT_RESERVATION,
        "seatInfo": EVENT_SEAT,
        "ticketHolderName": STRING,
        "ticketNumber": STRING,
        "ticketType": LOCALIZED,
    },
    "generic": {
        **_OBJECT_BASE,
        "cardTitle": LOCALIZED,
        "genericType": _enum(
            "GENERIC_SEASON_PASS",
            "GENERIC_UTILITY_BILLS",
            "GENERIC_PARKING_PASS",
            "GENERIC_VOUCHER",
            "GENERIC_GYM_MEMBERSHIP",
            "GENERIC_LIBRARY_MEMBERSHIP",
            "GENERIC_RESERVATIONS",
            "GENERIC_AUTO_INSURANCE",
            "GENERIC_HOME_INSURANCE",
            "GENERIC_ENTRY_TICKET",
            "GENERIC_RECEIPT",
            "GENERIC_LOYALTY_CARD",
            "GENERIC_BUSINESS_CARD",
            "GENERIC_BARCODE_PASS",
            "GENERIC_MEMBERSHIP_CARD",
            "GENERIC_STUDENT_CARD",
            "GENERIC_TRANSIT_PASS",
            "GENERIC_VEHICLE_REGISTRATION",
            "GENERIC_OTHER",
        ),
        "header": LOCALIZED,
        "hexBackgroundColor": HEX_COLOR,
        "logo": IMAGE,
        "notifications": OBJECT,
        "subheader": LOCALIZED,
        "wideLogo": IMAGE,
    },
}
# Beyond id and classId, which passwire sets.
OBJECT_REQUIRED: dict[str, tuple[str, ...]] = {
    "giftCard": ("cardNumber",),
    "generic": ("cardTitle", "header"),
}

_CLASS_BASE: dict[str, Rule] = {
    "appLinkData": OBJECT,
    "classTemplateInfo": OBJECT,
    "enableSmartTap": BOOLEAN,
    "imageModulesData": _array_of(IMAGE_MODULE),
    "linksModuleData": LINKS_MODULE,
    "merchantLocations": _array_of(LAT_LONG),
    "messages": _array_of(MESSAGE),
    "multipleDevicesAndHoldersAllowedStatus": _enum(
        "MULTIPLE_HOLDERS", "ONE_USER_ALL_DEVICES", "ONE_USER_ONE_DEVICE"
    ),
    "redemptionIssuers": _array_of(INT64),
    "securityAnimation": OBJECT,
    "textModulesData": _array_of(TEXT_MODULE),
    "valueAddedModuleData": ARRAY,
    "viewUnlockRequirement": _enum("UNLOCK_NOT_REQUIRED", "UNLOCK_REQUIRED_TO_VIEW"),
}
_CLASS_CLASSIC: dict[str, Rule] = {
    **_CLASS_BASE,
    "countryCode": COUNTRY,
    "heroImage": IMAGE,
    "hexBackgroundColor": HEX_COLOR,
    "homepageUri": URI,
    "infoModuleData": OBJECT,
    "issuerName": STRING,
    "localizedIssuerName": LOCALIZED,
    "locations": _array_of(LAT_LONG),
    "notifyPreference": NOTIFY_PREFERENCE,
    # APPROVED and REJECTED are Google's answers, not something an issuer sends.
    "reviewStatus": _enum("UNDER_REVIEW", "DRAFT"),
    "wordMark": IMAGE,
}
CLASS_KEYS: dict[str, dict[str, Rule]] = {
    "loyalty": {
        **_CLASS_CLASSIC,
        "accountIdLabel": STRING,
        "accountNameLabel": STRING,
        "discoverableProgram": OBJECT,
        "localizedAccountIdLabel": LOCALIZED,
        "localizedAccountNameLabel": LOCALIZED,
        "localizedProgramName": LOCALIZED,
        "localizedRewardsTier": LOCALIZED,
        "localizedRewardsTierLabel": LOCALIZED,
        "localizedSecondaryRewardsTier": LOCALIZED,
        "localizedSecondaryRewardsTierLabel": LOCALIZED,
        "programLogo": IMAGE,
        "programName": STRING,
        "rewardsTier": STRING,
        "rewardsTierLabel": STRING,
        "secondaryRewardsTier": STRING,
        "secondaryRewardsTierLabel": STRING,
        "wideProgramLogo": IMAGE,
    },
    "offer": {
        **_CLASS_CLASSIC,
        "details": STRING,
        "finePrint": STRING,
        "helpUri": URI,
        "localizedDetails": LOCALIZED,
        "localizedFinePrint": LOCALIZED,
        "localizedProvider": LOCALIZED,
        "localizedShortTitle": LOCALIZED,
        "localizedTitle": LOCALIZED,
        "provider": STRING,
        "redemptionChannel": _enum("INSTORE", "ONLINE", "BOTH", "TEMPORARY_PRICE_REDUCTION"),
        "shortTitle": STRING,
        "title": STRING,
        "titleImage": IMAGE,
        "wideTitleImage": IMAGE,
    },
    "giftCard": {
        **_CLASS_CLASSIC,
        "allowBarcodeRedemption": BOOLEAN,
        "cardNumberLabel": STRING,
        "eventNumberLabel": STRING,
        "localizedCardNumberLabel": LOCALIZED,
        "localizedEventNumberLabel": LOCALIZED,
        "localizedMerchantName": LOCALIZED,
        "localizedPinLabel": LOCALIZED,
        "merchantName": STRING,
        "pinLabel": STRING,
        "programLogo": IMAGE,
        "wideProgramLogo": IMAGE,
    },
    "eventTicket": {
        **_CLASS_CLASSIC,
        "confirmationCodeLabel": _enum(
            "CONFIRMATION_CODE", "CONFIRMATION_NUMBER", "ORDER_NUMBER", "RESERVATION_NUMBER"
        ),
        "customConfirmationCodeLabel": LOCALIZED,
        "customGateLabel": LOCALIZED,
        "customRowLabel": LOCALIZED,
        "customSeatLabel": LOCALIZED,
        "customSectionLabel": LOCALIZED,
        "dateTime": EVENT_DATE_TIME,
        "eventId": STRING,
        "eventName": LOCALIZED,
        "finePrint": LOCALIZED,  # a plain string on offers, localized here
        "gateLabel": _enum("GATE", "DOOR", "ENTRANCE"),
        "logo": IMAGE,
        "rowLabel": _enum("ROW"),
        "seatLabel": _enum("SEAT"),
        "sectionLabel": _enum("SECTION", "THEATER"),
        "venue": EVENT_VENUE,
        "wideLogo": IMAGE,
    },
    "generic": _CLASS_BASE,  # a generic pass's content lives on its objects
}
CLASS_REQUIRED: dict[str, tuple[str, ...]] = {
    "loyalty": ("issuerName", "programName", "programLogo"),
    "offer": ("issuerName", "provider", "title", "redemptionChannel"),
    "giftCard": ("issuerName",),
    "eventTicket": ("issuerName", "eventName"),
    "generic": (),
}


def resource_name(kind: str, what: str) -> str:
    """Google's name for a resource: ("giftCard", "Object") -> "GiftCardObject"."""
    return kind[0].upper() + kind[1:] + what


def _refusals(owned: tuple[str, ...]) -> dict[str, str]:
    return {
        **_NOT_FOR_TEMPLATES,
        **{key: "is set by passwire; remove it from the template" for key in owned},
    }


_OBJECT_RULES = {
    kind: _struct(
        resource_name(kind, "Object"),
        OBJECT_KEYS[kind],
        required=OBJECT_REQUIRED.get(kind, ()),
        refused=_refusals(OWNED_OBJECT_KEYS),
    )
    for kind in GOOGLE_KINDS
}
_CLASS_RULES = {
    kind: _struct(
        resource_name(kind, "Class"),
        CLASS_KEYS[kind],
        required=CLASS_REQUIRED[kind],
        refused=_refusals(OWNED_CLASS_KEYS),
    )
    for kind in GOOGLE_KINDS
}


def validate_object(doc: Mapping[str, object], kind: str) -> Problems:
    """Every problem in an object template's output for a `kind` (GOOGLE_KINDS) pass type."""
    return _OBJECT_RULES[kind](dict(doc), "")


def validate_class(doc: Mapping[str, object], kind: str) -> Problems:
    """Every problem in a class template's output for a `kind` (GOOGLE_KINDS) pass type."""
    return _CLASS_RULES[kind](dict(doc), "")
