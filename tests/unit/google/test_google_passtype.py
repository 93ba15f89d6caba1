from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from shared.apple.passtype import DeclaredData, build_render_context
from shared.google.passtype import (
    GooglePassType,
    GooglePassTypeError,
    GoogleRenderError,
    content_hash,
    google_state,
    load_google_pass_type,
    object_id_for,
    render_google_class,
    render_google_object,
)
from tests.unit.google.helpers import (
    CLASS_JSON,
    DECLARED,
    ISSUER,
    object_json,
    write_google,
)

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
PASS_ID = "Ed34kg3oA47xyzABCDEFGH"
OBJECT_ID = f"{ISSUER}.{PASS_ID}"


def load(directory: Path, declared: DeclaredData = DECLARED, **settings: Any) -> GooglePassType:
    arguments: dict[str, Any] = {
        "tenant_id": "acme",
        "pass_type_id": directory.name,
        "issuer_id": ISSUER,
        "kind": "loyalty",
    }
    return load_google_pass_type(directory, declared, **(arguments | settings))


def problems_of(directory: Path, **settings: Any) -> list[str]:
    with pytest.raises(GooglePassTypeError) as info:
        load(directory, **settings)
    assert str(directory) in str(info.value)
    return info.value.problems


def only_problem(directory: Path, **settings: Any) -> str:
    (problem,) = problems_of(directory, **settings)
    return problem


def context(**overrides: Any) -> dict[str, Any]:
    document = {
        "_id": PASS_ID,
        "passType": "card",
        "status": "active",
        "identifiers": {"crm": "C-1233332"},
        "metadata": {"store": "Rue de Rivoli"},
        "additionalData": {"points": 42},
    } | overrides
    return build_render_context(document, external={"firstName": "Ada"}, now=NOW)


@pytest.fixture
def card(tmp_path: Path) -> GooglePassType:
    return load(write_google(tmp_path))


# Loading


def test_a_valid_pass_type_loads_with_its_class_id(card: GooglePassType) -> None:
    assert card.issuer_id == ISSUER
    assert card.kind == "loyalty"
    assert card.class_id == f"{ISSUER}.acme-card"
    assert card.class_fields["programName"] == "Test Rewards"


def test_a_class_suffix_names_the_class(tmp_path: Path) -> None:
    card = load(write_google(tmp_path), class_suffix="rewards.v2")
    assert card.class_id == f"{ISSUER}.rewards.v2"


def test_a_syntax_error_is_named_with_file_and_line(tmp_path: Path) -> None:
    template = object_json('  {% if pass.metadata.store %}"accountName": "x",')
    problem = only_problem(write_google(tmp_path, object_template=template))
    assert problem.startswith("google/object.json:2: syntax error:")


def test_a_reference_to_undeclared_data_is_refused(tmp_path: Path) -> None:
    template = object_json('  "accountName": "{{ pass.metadata.colour }}",')
    problem = only_problem(write_google(tmp_path, object_template=template))
    assert problem == (
        "google/object.json:2: references pass.metadata.colour, which the pass type does not "
        "declare"
    )


def test_the_apple_message_key_is_not_for_google_templates(tmp_path: Path) -> None:
    """Google keeps its messages on the object (google.md#messages), not in a field."""
    template = object_json('  "accountName": "{{ message.text }}",')
    problem = only_problem(write_google(tmp_path, object_template=template))
    assert problem.startswith("google/object.json:2: references message.text")


def test_the_class_template_may_not_read_pass_data(tmp_path: Path) -> None:
    class_json = CLASS_JSON.replace('"Test Org"', '"{{ pass.metadata.store }}"')
    problem = only_problem(write_google(tmp_path, class_json=class_json))
    assert problem.startswith("google/class.json:2: references pass.metadata.store; the class")


def test_an_unknown_filter_is_refused(tmp_path: Path) -> None:
    template = object_json('  "accountName": "{{ pass.id | shout }}",')
    assert only_problem(write_google(tmp_path, object_template=template)) == (
        "google/object.json:2: unknown filter 'shout'"
    )


def test_an_unknown_key_is_named_with_file_line_and_field(tmp_path: Path) -> None:
    template = object_json('  "colour": "red",')
    assert only_problem(write_google(tmp_path, object_template=template)) == (
        "google/object.json:2: colour: unknown key (not in Google Wallet's LoyaltyObject reference)"
    )


def test_a_key_of_another_kind_is_unknown(tmp_path: Path) -> None:
    template = object_json('  "ticketNumber": "A1",')  # an eventTicket key
    assert "ticketNumber: unknown key" in only_problem(
        write_google(tmp_path, object_template=template)
    )


def test_a_wrong_barcode_type_is_named(tmp_path: Path) -> None:
    template = object_json().replace('"QR_CODE"', '"PKBarcodeFormatQR"')
    problem = only_problem(write_google(tmp_path, object_template=template))
    assert problem.startswith("google/object.json:8: barcode.type: must be one of AZTEC,")
    assert "QR_CODE" in problem


def test_an_image_by_plain_http_is_refused(tmp_path: Path) -> None:
    class_json = CLASS_JSON.replace("https://example.com/logo.png", "http://example.com/logo.png")
    assert only_problem(write_google(tmp_path, class_json=class_json)) == (
        "google/class.json:4: programLogo.sourceUri.uri: must be an https:// URL "
        "(Google fetches images over HTTPS)"
    )


def test_a_missing_required_class_field_is_named(tmp_path: Path) -> None:
    class_json = CLASS_JSON.replace('  "programName": "Test Rewards",\n', "")
    assert only_problem(write_google(tmp_path, class_json=class_json)) == (
        "google/class.json: programName: is required"
    )


def test_required_class_fields_follow_the_kind(tmp_path: Path) -> None:
    problems = problems_of(write_google(tmp_path), kind="offer")
    assert "google/class.json: provider: is required" in problems
    assert "google/class.json: redemptionChannel: is required" in problems
    assert any("programName: unknown key" in problem for problem in problems)


def test_keys_passwire_sets_are_refused(tmp_path: Path) -> None:
    template = object_json('  "id": "x", "classId": "y",')
    class_json = CLASS_JSON.replace("{", '{ "callbackOptions": { "url": "https://x" },', 1)
    problems = problems_of(write_google(tmp_path, class_json=class_json, object_template=template))
    assert sorted(problems) == [
        "google/class.json:1: callbackOptions: is set by passwire; remove it from the template",
        "google/object.json: id: is set by passwire; remove it from the template",
        # "id" is also a text module key: no line for it, one for classId.
        "google/object.json:2: classId: is set by passwire; remove it from the template",
    ]


def test_output_that_is_not_a_json_object_is_refused(tmp_path: Path) -> None:
    problem = only_problem(write_google(tmp_path, object_template='["{{ pass.id }}"]'))
    assert problem == "google/object.json: rendered output is not a JSON object"


def test_output_that_is_not_json_is_refused_with_the_sample_line(tmp_path: Path) -> None:
    template = object_json('  "accountName": {{ pass.id }},')  # missing quotes
    problem = only_problem(write_google(tmp_path, object_template=template))
    assert problem.startswith("google/object.json: rendered output is not valid JSON")
    assert "SAMPLE-PASS-ID" in problem  # sample data may be shown; real pass data never is


def test_missing_templates_and_stray_files_are_reported(tmp_path: Path) -> None:
    directory = write_google(
        tmp_path, class_json=None, with_object=False, extra_files={"logo.png": "x"}
    )
    assert problems_of(directory) == [
        "google/logo.png: unexpected file; expected class.json and object.json",
        "google/class.json: is required",
        "google/object.json: is required",
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    template = object_json('  "colour": "red",').replace('"QR_CODE"', '"QR"')
    class_json = CLASS_JSON.replace('"Test Org"', "42")
    problems = problems_of(write_google(tmp_path, class_json=class_json, object_template=template))
    assert len(problems) == 3


def test_bad_settings_are_named(tmp_path: Path) -> None:
    problems = problems_of(
        write_google(tmp_path), issuer_id="12ab", kind="coupon", class_suffix="a b"
    )
    assert [problem.split(":")[1].strip() for problem in problems] == [
        "google.issuer_id",
        "google.kind",
        "google.class_suffix",
    ]


# Rendering objects


def test_an_object_is_filled_from_every_data_group(card: GooglePassType) -> None:
    rendered = render_google_object(card, context(), object_id=OBJECT_ID)
    assert rendered["id"] == OBJECT_ID
    assert rendered["classId"] == card.class_id
    assert rendered["state"] == "ACTIVE"
    assert rendered["accountId"] == "C-1233332"  # identifiers
    assert rendered["loyaltyPoints"]["balance"] == {"int": 42}  # additionalData
    assert rendered["barcode"] == {"type": "QR_CODE", "value": PASS_ID}
    bodies = [module["body"] for module in rendered["textModulesData"]]
    assert bodies == ["Rue de Rivoli", "Hello Ada"]  # metadata, external
    assert "validTimeInterval" not in rendered


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("redeemed", "COMPLETED"),
        ("expired", "EXPIRED"),
        ("blocked", "INACTIVE"),
        ("voided", "INACTIVE"),
    ],
)
def test_a_pass_status_overrides_the_template_state(
    tmp_path: Path, status: str, state: str
) -> None:
    card = load(write_google(tmp_path, object_template=object_json('  "state": "ACTIVE",')))
    assert render_google_object(card, context(), object_id=OBJECT_ID, status=status)["state"] == (
        state
    )


def test_an_active_pass_keeps_the_template_state(tmp_path: Path) -> None:
    card = load(write_google(tmp_path, object_template=object_json('  "state": "INACTIVE",')))
    assert render_google_object(card, context(), object_id=OBJECT_ID)["state"] == "INACTIVE"


def test_an_unknown_status_is_an_error(card: GooglePassType) -> None:
    with pytest.raises(ValueError, match="unknown pass status"):
        render_google_object(card, context(), object_id=OBJECT_ID, status="lost")
    with pytest.raises(ValueError, match="unknown pass status"):
        google_state("lost")


def test_an_expiration_ends_the_valid_time_interval(tmp_path: Path) -> None:
    start = '  "validTimeInterval": { "start": { "date": "2025-01-01T00:00:00+01:00" } },'
    card = load(write_google(tmp_path, object_template=object_json(start)))
    expiration = datetime(2026, 3, 1, 18, 0, tzinfo=timezone(timedelta(hours=2)))
    rendered = render_google_object(card, context(), object_id=OBJECT_ID, expiration=expiration)
    assert rendered["validTimeInterval"] == {
        "start": {"date": "2025-01-01T00:00:00+01:00"},
        "end": {"date": "2026-03-01T18:00:00+02:00"},
    }


def test_a_naive_expiration_is_taken_as_utc(card: GooglePassType) -> None:
    rendered = render_google_object(
        card, context(), object_id=OBJECT_ID, expiration=datetime(2026, 3, 1, 18, 0)
    )
    assert rendered["validTimeInterval"]["end"] == {"date": "2026-03-01T18:00:00+00:00"}


@pytest.mark.parametrize(
    "hostile",
    ['He said "hi"', "back\\slash\\", '", "id": "x', "\\u0022", "line\nbreak\t\u0000", "{{ x }}"],
)
def test_escaping_holds_for_hostile_values(card: GooglePassType, hostile: str) -> None:
    rendered = render_google_object(
        card,
        context(metadata={"store": hostile}, identifiers={"crm": hostile}, _id=PASS_ID),
        object_id=OBJECT_ID,
    )
    assert rendered["textModulesData"][0]["body"] == hostile
    assert rendered["accountId"] == hostile
    assert rendered["id"] == OBJECT_ID


def test_bad_pass_data_is_a_render_error_that_quotes_no_value(tmp_path: Path) -> None:
    link = '  "linksModuleData": { "uris": [{ "uri": "{{ pass.metadata.link }}" }] },'
    declared = dataclasses.replace(
        DECLARED, samples={**DECLARED.samples, "metadata": {"link": "https://example.com"}}
    )
    card = load(write_google(tmp_path, object_template=object_json(link)), declared)
    with pytest.raises(GoogleRenderError) as info:
        render_google_object(
            card,
            context(metadata={"store": "x", "link": "javascript:alert(1)"}),
            object_id=OBJECT_ID,
        )
    assert info.value.problems == [
        "google/object.json:2: linksModuleData.uris.0.uri: must be a URI with one of the "
        "schemes https, http, mailto, tel, geo"
    ]
    assert "javascript" not in str(info.value)


def test_missing_pass_data_is_a_render_error(card: GooglePassType) -> None:
    with pytest.raises(
        GoogleRenderError, match=r"google/object\.json:10: pass\.metadata\.store is undefined"
    ):
        render_google_object(card, context(metadata={}), object_id=OBJECT_ID)


def test_an_object_id_of_another_issuer_is_refused(card: GooglePassType) -> None:
    with pytest.raises(ValueError, match="is not"):
        render_google_object(card, context(), object_id=f"1234.{PASS_ID}")


# Rendering classes, ids and hashes


def test_a_class_gets_its_id_callback_and_review_status(card: GooglePassType) -> None:
    rendered = render_google_class(card, callback_url="https://passes.example.com/google/acme")
    assert rendered["id"] == f"{ISSUER}.acme-card"
    assert rendered["callbackOptions"] == {"url": "https://passes.example.com/google/acme"}
    assert rendered["reviewStatus"] == "UNDER_REVIEW"
    assert rendered["issuerName"] == "Test Org"
    rendered["programLogo"]["sourceUri"]["uri"] = "changed"  # a copy: the pass type is intact
    assert render_google_class(card, callback_url="https://x")["programLogo"] == {
        "sourceUri": {"uri": "https://example.com/logo.png"}
    }


def test_a_review_status_in_the_template_is_kept(tmp_path: Path) -> None:
    class_json = CLASS_JSON.replace("{", '{ "reviewStatus": "DRAFT",', 1)
    card = load(write_google(tmp_path, class_json=class_json))
    assert render_google_class(card, callback_url="https://x")["reviewStatus"] == "DRAFT"


def test_a_generic_class_has_no_review_status(tmp_path: Path) -> None:
    template = (
        '{ "cardTitle": { "defaultValue": { "language": "en", "value": "Gym" } },'
        ' "header": { "defaultValue": { "language": "en", "value": "{{ pass.id }}" } } }'
    )
    card = load(write_google(tmp_path, class_json="{}", object_template=template), kind="generic")
    assert render_google_class(card, callback_url="https://x") == {
        "id": card.class_id,
        "callbackOptions": {"url": "https://x"},
    }
    assert render_google_object(card, context(), object_id=OBJECT_ID)["header"] == {
        "defaultValue": {"language": "en", "value": PASS_ID}
    }


def test_object_ids_join_issuer_and_pass_id() -> None:
    assert object_id_for(ISSUER, PASS_ID) == OBJECT_ID
    with pytest.raises(ValueError, match="issuer id"):
        object_id_for("issuer", PASS_ID)
    with pytest.raises(ValueError, match="pass id"):
        object_id_for(ISSUER, "a.b/c")


def test_the_content_hash_ignores_key_order_only() -> None:
    one = {"b": [1, {"y": "é", "x": 2}], "a": None}
    same = {"a": None, "b": [1, {"x": 2, "y": "é"}]}
    canonical = json.dumps(one, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert content_hash(one) == content_hash(same)
    assert content_hash(one) == hashlib.sha256(canonical.encode()).hexdigest()
    assert content_hash(one) != content_hash({**one, "a": 0})
