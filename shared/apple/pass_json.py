"""Structure of pass.json, from Apple's Wallet Passes reference (the `Pass` object).

`validate_pass_json` checks a parsed pass.json and returns every problem as (path, reason),
path in dotted form ("storeCard.headerFields[0].changeMessage"). Rules are limited to what
Apple documents; keys we do not model in detail (semantics, nfc, userInfo...) pass through
with a type check only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

STYLE_KEYS = ("boardingPass", "coupon", "eventTicket", "generic", "storeCard")
# Set by passwire from the pass's lifecycle (shared/lifecycle/apple_keys.py), and only on the
# passes that need them: `voided` on a pass no longer usable, `expirationDate` on one that has
# an expiration date.
STATUS_KEYS = ("expirationDate", "voided")
# Set by passwire from the pass and the signing certificate; a template must not set them.
OWNED_KEYS = (
    "authenticationToken",
    "expirationDate",
    "formatVersion",
    "passTypeIdentifier",
    "serialNumber",
    "teamIdentifier",
    "voided",
    "webServiceURL",
)
REQUIRED_KEYS = ("description", "organizationName")
FIELD_GROUPS = (
    "headerFields",
    "primaryFields",
    "secondaryFields",
    "auxiliaryFields",
    "backFields",
    "additionalInfoFields",  # iOS 18 event tickets
)
BARCODE_FORMATS = frozenset(
    {"PKBarcodeFormatQR", "PKBarcodeFormatPDF417", "PKBarcodeFormatAztec", "PKBarcodeFormatCode128"}
)
TRANSIT_TYPES = frozenset(
    {
        "PKTransitTypeAir",
        "PKTransitTypeBoat",
        "PKTransitTypeBus",
        "PKTransitTypeGeneric",
        "PKTransitTypeTrain",
    }
)

Problems = list[tuple[str, str]]
_Check = Callable[[object], str | None]  # returns the reason a value is wrong, or None

_COLOR = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$")
# W3C timestamp: a complete date, hours and minutes, optional seconds, and a time zone.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(value: object) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _bool(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _number(value: object) -> str | None:
    return None if _is_number(value) else "must be a number"


def _object(value: object) -> str | None:
    return None if isinstance(value, dict) else "must be an object"


def _array(value: object) -> str | None:
    return None if isinstance(value, list) else "must be an array"


def _anything(value: object) -> str | None:
    return None


def _color(value: object) -> str | None:
    match = _COLOR.match(value) if isinstance(value, str) else None
    if match is None or any(int(part) > 255 for part in match.groups()):
        return "must be a CSS-style RGB triple such as rgb(23, 187, 82), each value 0-255"
    return None


def _date(value: object) -> str | None:
    if isinstance(value, str) and _DATE.match(value):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return None
    return "must be a W3C date and time with a time zone, e.g. 2025-01-31T09:00:00+01:00"


def _numbers(value: object) -> str | None:
    if isinstance(value, list) and all(_is_number(item) for item in value):
        return None
    return "must be an array of numbers"


def _strings(value: object) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return None
    return "must be an array of strings"


def _one_of(allowed: frozenset[str]) -> _Check:
    def check(value: object) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(sorted(allowed))}"

    return check


# Apple's documented top-level keys and the check for each. Nested objects with their own
# rules (styles, barcodes, locations, beacons) are checked separately below.
TOP_LEVEL_KEYS: dict[str, _Check] = {
    "accessibilityURL": _string,
    "addOnURL": _string,
    "appLaunchURL": _string,
    "associatedStoreIdentifiers": _numbers,
    "authenticationToken": _string,
    "auxiliaryStoreIdentifiers": _numbers,
    "backgroundColor": _color,
    "bagPolicyURL": _string,
    "barcode": _object,
    "barcodes": _array,
    "beacons": _array,
    "boardingPass": _object,
    "contactVenueEmail": _string,
    "contactVenuePhoneNumber": _string,
    "contactVenueWebsite": _string,
    "coupon": _object,
    "description": _string,
    "directionsInformationURL": _string,
    "eventLogoText": _string,
    "eventTicket": _object,
    "expirationDate": _date,
    "footerBackgroundColor": _color,
    "foregroundColor": _color,
    "formatVersion": _number,
    "generic": _object,
    "groupingIdentifier": _string,
    "labelColor": _color,
    "locations": _array,
    "logoText": _string,
    "maxDistance": _number,
    "merchandiseURL": _string,
    "nfc": _object,
    "orderFoodURL": _string,
    "organizationName": _string,
    "parkingInformationURL": _string,
    "passTypeIdentifier": _string,
    "preferredStyleSchemes": _strings,
    "purchaseParkingURL": _string,
    "relevantDate": _date,
    "relevantDates": _array,
    "sellURL": _string,
    "semantics": _object,
    "serialNumber": _string,
    "sharingProhibited": _bool,
    "storeCard": _object,
    "suppressHeaderDarkening": _bool,
    "suppressStripShine": _bool,
    "teamIdentifier": _string,
    "transferURL": _string,
    "transitInformationURL": _string,
    "upcomingPassInformation": _array,
    "useAutomaticColors": _bool,
    "userInfo": _anything,
    "voided": _bool,
    "webServiceURL": _string,
}


def _change_message(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    # Wallet substitutes the new value for %@; without it the notification shows no value.
    return None if "%@" in value else "must contain %@ (replaced by the new value)"


def _field_value(value: object) -> str | None:
    ok = isinstance(value, str) or _is_number(value)
    return None if ok else "must be a string (text or ISO 8601 date) or a number"


def _row(value: object) -> str | None:
    return None if value in (0, 1) and not isinstance(value, bool) else "must be 0 or 1"


def _currency(value: object) -> str | None:
    ok = isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value) is not None
    return None if ok else "must be an ISO 4217 currency code such as EUR"


_DATE_STYLES = frozenset(
    {
        "PKDateStyleNone",
        "PKDateStyleShort",
        "PKDateStyleMedium",
        "PKDateStyleLong",
        "PKDateStyleFull",
    }
)
_DATA_DETECTORS = frozenset(
    {
        "PKDataDetectorTypePhoneNumber",
        "PKDataDetectorTypeLink",
        "PKDataDetectorTypeAddress",
        "PKDataDetectorTypeCalendarEvent",
    }
)


def _data_detectors(value: object) -> str | None:
    if isinstance(value, list) and all(item in _DATA_DETECTORS for item in value):
        return None
    return f"must be an array of {', '.join(sorted(_DATA_DETECTORS))}"


FIELD_KEYS: dict[str, _Check] = {
    "key": _string,
    "label": _string,
    "value": _field_value,
    "attributedValue": _field_value,
    "changeMessage": _change_message,
    "dataDetectorTypes": _data_detectors,
    "textAlignment": _one_of(
        frozenset(
            {
                "PKTextAlignmentLeft",
                "PKTextAlignmentCenter",
                "PKTextAlignmentRight",
                "PKTextAlignmentNatural",
            }
        )
    ),
    "dateStyle": _one_of(_DATE_STYLES),
    "timeStyle": _one_of(_DATE_STYLES),
    "isRelative": _bool,
    "ignoresTimeZone": _bool,
    "currencyCode": _currency,
    "numberStyle": _one_of(
        frozenset(
            {
                "PKNumberStyleDecimal",
                "PKNumberStylePercent",
                "PKNumberStyleScientific",
                "PKNumberStyleSpellOut",
            }
        )
    ),
    "semantics": _object,
    "row": _row,
}
BARCODE_KEYS: dict[str, _Check] = {
    "format": _one_of(BARCODE_FORMATS),
    "message": _string,
    "messageEncoding": _string,  # IANA name, e.g. iso-8859-1
    "altText": _string,
}
LOCATION_KEYS: dict[str, _Check] = {
    "latitude": _number,
    "longitude": _number,
    "altitude": _number,
    "relevantText": _string,
}
BEACON_KEYS: dict[str, _Check] = {
    "proximityUUID": _string,
    "major": _number,
    "minor": _number,
    "relevantText": _string,
}


class DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # json.loads would silently keep the last one; a template typo hides that way.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"key {key!r} appears twice in one object")
            seen.add(key)
    return out


# Made once: json.loads builds a new decoder on every call given a hook. Same result.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def parse_json_value(text: str) -> Any:
    """Parse any JSON value, refusing duplicate keys. Raises ValueError."""
    return _DECODER.decode(text)


def parse_pass_json(text: str) -> dict[str, Any]:
    """Parse JSON text into an object, refusing duplicate keys. Raises ValueError."""
    doc = parse_json_value(text)
    if not isinstance(doc, dict):
        raise ValueError("pass.json must be a JSON object")
    return doc


# Made once (json.dumps builds an encoder per call when given options); same output.
_COMPACT = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def compact_text(value: Any) -> str:
    """`value` as serialise writes it (compact, keys sorted), as text."""
    return _COMPACT.encode(value)


def serialise(doc: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON with sorted keys: equal content gives equal bytes."""
    return _COMPACT.encode(doc).encode("utf-8")


def _check_dict(
    value: object, path: str, checks: Mapping[str, _Check], required: tuple[str, ...]
) -> Problems:
    if not isinstance(value, dict):
        return [(path, "must be an object")]
    problems: Problems = [(f"{path}.{key}", "is required") for key in required if key not in value]
    for key, item in value.items():
        check = checks.get(key)
        if check is None:
            problems.append((f"{path}.{key}", "unknown key"))
        elif (reason := check(item)) is not None:
            problems.append((f"{path}.{key}", reason))
    return problems


def _check_list(
    doc: Mapping[str, Any], key: str, checks: Mapping[str, _Check], required: tuple[str, ...]
) -> Problems:
    items = doc.get(key)
    if not isinstance(items, list):
        return []  # absent, or already reported by the top-level type check
    problems: Problems = []
    for index, item in enumerate(items):
        problems.extend(_check_dict(item, f"{key}[{index}]", checks, required))
    return problems


def _check_style(style: str, body: object) -> tuple[Problems, list[tuple[str, str]]]:
    """Problems in the style dictionary, and (field key, path) of each field seen."""
    if not isinstance(body, dict):
        return [], []  # reported by the top-level type check
    problems: Problems = []
    keys: list[tuple[str, str]] = []
    for group, fields in body.items():
        path = f"{style}.{group}"
        if group == "transitType":
            if style != "boardingPass":
                problems.append((path, "is only allowed on boardingPass"))
            elif (reason := _one_of(TRANSIT_TYPES)(fields)) is not None:
                problems.append((path, reason))
            continue
        if group not in FIELD_GROUPS:
            problems.append((path, "unknown key"))
            continue
        if not isinstance(fields, list):
            problems.append((path, "must be an array of fields"))
            continue
        for index, field in enumerate(fields):
            field_path = f"{path}[{index}]"
            problems.extend(_check_dict(field, field_path, FIELD_KEYS, ("key", "value")))
            if isinstance(field, dict) and isinstance(field.get("key"), str):
                keys.append((field["key"], field_path))
    if style == "boardingPass" and "transitType" not in body:
        problems.append((f"{style}.transitType", "is required on boardingPass"))
    return problems, keys


def _duplicate_field_keys(keys: list[tuple[str, str]]) -> Problems:
    first: dict[str, str] = {}
    problems: Problems = []
    for key, path in keys:
        if key in first:
            problems.append((f"{path}.key", f"duplicate field key {key!r} (also {first[key]})"))
        else:
            first[key] = path
    return problems


def styles_in(doc: Mapping[str, Any]) -> list[str]:
    return [key for key in STYLE_KEYS if key in doc]


def _relevant_dates(doc: Mapping[str, Any]) -> Problems:
    entries = doc.get("relevantDates")
    if not isinstance(entries, list):
        return []
    problems: Problems = []
    for index, entry in enumerate(entries):
        path = f"relevantDates[{index}]"
        if not isinstance(entry, dict):
            problems.append((path, "must be an object"))
            continue
        for key in ("startDate", "endDate", "relevantDate", "date"):
            if key in entry and (reason := _date(entry[key])) is not None:
                problems.append((f"{path}.{key}", reason))
    return problems


def validate_pass_json(doc: Mapping[str, Any]) -> Problems:
    """Every problem in `doc`, the JSON a template rendered: Apple's rules, plus the keys
    passwire sets (OWNED_KEYS) must be absent."""
    problems: Problems = []
    for key, value in doc.items():
        check = TOP_LEVEL_KEYS.get(key)
        if check is None:
            problems.append((key, "unknown top-level key (not in Apple's pass.json reference)"))
        elif key in OWNED_KEYS:
            problems.append((key, "is set by passwire; remove it from the template"))
        elif (reason := check(value)) is not None:
            problems.append((key, reason))
    problems.extend((key, "is required") for key in REQUIRED_KEYS if key not in doc)
    if "barcode" in doc:
        problems.append(("barcode", "is deprecated since iOS 9; use barcodes (an array)"))
    if "appLaunchURL" in doc and "associatedStoreIdentifiers" not in doc:
        problems.append(("appLaunchURL", "needs associatedStoreIdentifiers"))

    styles = styles_in(doc)
    if len(styles) != 1:
        found = ", ".join(styles) if styles else "none"
        problems.append(
            ("", f"needs exactly one style key of {', '.join(STYLE_KEYS)}; found {found}")
        )
    field_keys: list[tuple[str, str]] = []
    for style in styles:
        style_problems, keys = _check_style(style, doc[style])
        problems.extend(style_problems)
        field_keys.extend(keys)
    problems.extend(_duplicate_field_keys(field_keys))

    problems.extend(
        _check_list(doc, "barcodes", BARCODE_KEYS, ("format", "message", "messageEncoding"))
    )
    problems.extend(_check_list(doc, "locations", LOCATION_KEYS, ("latitude", "longitude")))
    problems.extend(_check_list(doc, "beacons", BEACON_KEYS, ("proximityUUID",)))
    problems.extend(_relevant_dates(doc))
    return problems


# Top-level keys whose value validate_pass_json looks into beyond the value's own check.
_NESTED_RULES = frozenset({*STYLE_KEYS, "barcodes", "locations", "beacons", "relevantDates"})
_ITEM_KEYS = {"barcodes": BARCODE_KEYS, "locations": LOCATION_KEYS, "beacons": BEACON_KEYS}
_RELEVANT_DATE_KEYS = ("startDate", "endDate", "relevantDate", "date")
_BLIND_CHECKS = (_object, _array, _anything)  # never look inside the value
# Checks that pass every string: a string in their place needs no check per pass.
ANY_STRING_CHECKS = frozenset({_string, _field_value, _anything})


def isolated_check(path: tuple[str | int, ...]) -> _Check | None:
    """The one check validate_pass_json applies to the value at `path` (keys and list
    indexes from the top), when no other rule reads that value; None when some other rule
    does (a field's "key" is checked for duplicates, a style body or a barcodes list has
    rules inside, an unknown key...) or the path is not one validate_pass_json knows.

    So in a document whose other values are fixed and raise no problem, the value at `path`
    raises a problem exactly when this check returns one. KEEP IN STEP WITH
    validate_pass_json: any rule added there that reads a value must show up here."""
    root, rest = path[0], path[1:]
    if not isinstance(root, str) or root in OWNED_KEYS or root not in TOP_LEVEL_KEYS:
        return None
    if root in STYLE_KEYS:
        return _field_check(rest)
    if root in _ITEM_KEYS:
        return _item_check(rest, _ITEM_KEYS[root])
    if root == "relevantDates":
        return _relevant_date_check(rest)
    if root in _NESTED_RULES:
        return None
    check = TOP_LEVEL_KEYS[root]
    if not rest:
        return check
    return _anything if check in _BLIND_CHECKS else None


def _field_check(rest: tuple[str | int, ...]) -> _Check | None:
    """(group, index, field key[, ...]) inside a style body."""
    if len(rest) < 3 or rest[0] not in FIELD_GROUPS or not isinstance(rest[1], int):
        return None
    key = rest[2]
    if not isinstance(key, str) or key == "key" or key not in FIELD_KEYS:
        return None
    check = FIELD_KEYS[key]
    if len(rest) == 3:
        return check
    return _anything if check in _BLIND_CHECKS else None


def _item_check(rest: tuple[str | int, ...], checks: Mapping[str, _Check]) -> _Check | None:
    """(index, key) inside a barcodes, locations or beacons item: scalar checks only."""
    if len(rest) != 2 or not isinstance(rest[0], int) or not isinstance(rest[1], str):
        return None
    return checks.get(rest[1])


def _relevant_date_check(rest: tuple[str | int, ...]) -> _Check | None:
    """(index, key[, ...]) inside a relevantDates entry: only the date keys are read."""
    if len(rest) < 2 or not isinstance(rest[0], int) or not isinstance(rest[1], str):
        return None
    if rest[1] in _RELEVANT_DATE_KEYS:
        return _date if len(rest) == 2 else None
    return _anything


def dotted_path(path: tuple[str | int, ...]) -> str:
    """`path` as validate_pass_json names it: "storeCard.headerFields[0].value"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
