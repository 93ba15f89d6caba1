from __future__ import annotations

from typing import Any

import pytest

from shared.google.object_json import (
    CLASS_REQUIRED,
    GOOGLE_KINDS,
    validate_class,
    validate_object,
)


def en(value: str) -> dict[str, Any]:
    return {"defaultValue": {"language": "en", "value": value}}


IMAGE = {"sourceUri": {"uri": "https://example.com/a.png"}}
VALID_CLASSES: dict[str, dict[str, Any]] = {
    "loyalty": {"issuerName": "Org", "programName": "Rewards", "programLogo": IMAGE},
    "offer": {
        "issuerName": "Org",
        "provider": "Org",
        "title": "10% off",
        "redemptionChannel": "BOTH",
    },
    "giftCard": {"issuerName": "Org"},
    "eventTicket": {"issuerName": "Org", "eventName": en("Concert")},
    "generic": {},
}
VALID_OBJECTS: dict[str, dict[str, Any]] = {
    "loyalty": {"accountId": "A1"},
    "offer": {},
    "giftCard": {"cardNumber": "1234"},
    "eventTicket": {"ticketNumber": "T1", "seatInfo": {"seat": en("12")}},
    "generic": {"cardTitle": en("Gym"), "header": en("Ada")},
}


@pytest.mark.parametrize("kind", GOOGLE_KINDS)
def test_a_minimal_class_and_object_of_each_kind_are_valid(kind: str) -> None:
    assert validate_class(VALID_CLASSES[kind], kind) == []
    assert validate_object(VALID_OBJECTS[kind], kind) == []


@pytest.mark.parametrize("kind", GOOGLE_KINDS)
def test_required_class_fields_per_kind(kind: str) -> None:
    assert validate_class({}, kind) == [(key, "is required") for key in CLASS_REQUIRED[kind]]


def test_generic_and_gift_card_objects_need_their_titles() -> None:
    assert validate_object({}, "generic") == [
        ("cardTitle", "is required"),
        ("header", "is required"),
    ]
    assert validate_object({}, "giftCard") == [("cardNumber", "is required")]


def test_keys_are_allowed_per_kind() -> None:
    # hexBackgroundColor exists on event ticket and generic objects, not on loyalty objects.
    assert validate_object({"hexBackgroundColor": "#fc0"}, "generic") == [
        ("cardTitle", "is required"),
        ("header", "is required"),
    ]
    assert validate_object({"hexBackgroundColor": "#ffcc00"}, "loyalty") == [
        (
            "hexBackgroundColor",
            "unknown key (not in Google Wallet's LoyaltyObject reference)",
        )
    ]


def test_keys_google_sets_are_refused() -> None:
    assert validate_object({"hasUsers": True, "kind": "x"}, "offer") == [
        ("hasUsers", "is set by Google; remove it from the template"),
        ("kind", "is deprecated; remove it from the template"),
    ]


def test_text_modules_are_checked_item_by_item() -> None:
    doc = {"textModulesData": [{"header": "H", "body": "B"}, {"body": 3, "title": "T"}]}
    assert validate_object(doc, "offer") == [
        ("textModulesData.1.body", "must be a string"),
        (
            "textModulesData.1.title",
            "unknown key (not in Google Wallet's TextModuleData reference)",
        ),
    ]


def test_localized_strings_need_a_default_value_and_language_tags() -> None:
    doc = {
        "issuerName": "Org",
        "localizedIssuerName": {
            "translatedValues": [{"language": "french", "value": "Org"}, {"language": "fr"}]
        },
    }
    assert validate_class(doc, "giftCard") == [
        ("localizedIssuerName.defaultValue", "is required"),
        (
            "localizedIssuerName.translatedValues.0.language",
            "must be a BCP 47 language tag such as en, fr or pt-BR",
        ),
        ("localizedIssuerName.translatedValues.1.value", "is required"),
    ]


def test_images_are_by_https_url() -> None:
    doc = {
        "heroImage": {"sourceUri": {"uri": "https:// example.com/a.png"}},
        "imageModulesData": [{"mainImage": {"privateImageId": "x"}}],
    }
    assert validate_object(doc, "offer") == [
        ("heroImage.sourceUri.uri", "must be an https:// URL (Google fetches images over HTTPS)"),
        ("imageModulesData.0.mainImage.sourceUri", "is required"),
        (
            "imageModulesData.0.mainImage.privateImageId",
            "passwire sends images by URL; use sourceUri.uri",
        ),
    ]


def test_links_accept_web_mail_phone_and_map_uris() -> None:
    uris = ["https://a.example", "mailto:a@example.com", "tel:+33100000000", "geo:48.8,2.3"]
    doc = {"linksModuleData": {"uris": [{"uri": uri, "description": "x"} for uri in uris]}}
    assert validate_object(doc, "offer") == []
    bad = {"linksModuleData": {"uris": [{"uri": "javascript:alert(1)"}, {"description": "x"}]}}
    assert validate_object(bad, "offer") == [
        (
            "linksModuleData.uris.0.uri",
            "must be a URI with one of the schemes https, http, mailto, tel, geo",
        ),
        ("linksModuleData.uris.1.uri", "is required"),
    ]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2025-01-31T09:00:00+01:00", True),
        ("2025-01-31T09:00:00.123456789Z", True),
        ("2025-01-31T09:00+05:30", True),
        ("2025-01-31T09:00:00", False),  # offsets are required in validTimeInterval
        ("2025-02-30T09:00:00Z", False),
        ("2025-01-31 09:00:00Z", False),
        ("tomorrow", False),
    ],
)
def test_valid_time_interval_dates(value: str, valid: bool) -> None:
    problems = validate_object({"validTimeInterval": {"end": {"date": value}}}, "offer")
    assert (problems == []) == valid


def test_states_barcodes_and_colors() -> None:
    doc = {
        "state": "active",
        "barcode": {"type": "qrCode"},
        "hexBackgroundColor": "rgb(1, 2, 3)",
        "ticketNumber": "T1",
    }
    assert validate_object(doc, "eventTicket") == [
        ("state", "must be one of ACTIVE, COMPLETED, EXPIRED, INACTIVE"),
        ("barcode.value", "is required"),
        (
            "barcode.type",
            "must be one of AZTEC, CODABAR, CODE_128, CODE_39, DATA_MATRIX, EAN_13, EAN_8, "
            "ITF_14, PDF_417, QR_CODE, TEXT_ONLY, UPC_A",
        ),
        ("hexBackgroundColor", "must be a color as #rrggbb (or #rgb), e.g. #3b2418"),
    ]


def test_loyalty_points_hold_exactly_one_balance() -> None:
    doc = {
        "loyaltyPoints": {"label": "Points", "balance": {"int": 5, "string": "5"}},
        "secondaryLoyaltyPoints": {"balance": {"money": {"currencyCode": "EUR", "micros": "5"}}},
    }
    assert validate_object(doc, "loyalty") == [
        ("loyaltyPoints.balance", "needs exactly one of string, int, double, money"),
    ]


def test_money_and_event_details() -> None:
    doc = {
        "faceValue": {"currencyCode": "eur", "micros": 1.5},
        "reservationInfo": {"confirmationCode": "ABC"},
        "ticketType": en("VIP"),
    }
    assert validate_object(doc, "eventTicket") == [
        ("faceValue.currencyCode", "must be an ISO 4217 currency code such as USD or EUR"),
        ("faceValue.micros", "must be an integer (as a number or a string of digits)"),
    ]
    event_class = {
        **VALID_CLASSES["eventTicket"],
        "venue": {"name": en("Hall"), "address": en("1 Main St")},
        "dateTime": {"start": "2025-06-01T20:00", "doorsOpenLabel": "DOORS_OPEN"},
        "finePrint": "not localized",
    }
    assert validate_class(event_class, "eventTicket") == [
        ("finePrint", "must be an object"),
    ]


def test_class_enumerations() -> None:
    doc = {
        **VALID_CLASSES["offer"],
        "redemptionChannel": "online",
        "reviewStatus": "APPROVED",
        "multipleDevicesAndHoldersAllowedStatus": "ONE_USER_ALL_DEVICES",
        "countryCode": "FR",
        "locations": [{"latitude": 48.85, "longitude": 200}],
    }
    assert validate_class(doc, "offer") == [
        ("redemptionChannel", "must be one of INSTORE, ONLINE, BOTH, TEMPORARY_PRICE_REDUCTION"),
        ("reviewStatus", "must be one of UNDER_REVIEW, DRAFT"),
        ("locations.0.longitude", "must be a number from -180 to 180"),
    ]
