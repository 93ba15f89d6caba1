from __future__ import annotations

import codecs
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.apple.certificates import SigningIdentity
from shared.apple.package import build_pkpass
from shared.apple.pass_json import OWNED_KEYS, STATUS_KEYS, validate_pass_json
from shared.apple.passtype import (
    ApplePassType,
    ApplePassTypeError,
    DataDeclarationError,
    DeclaredData,
    PassRenderError,
    build_render_context,
    load_apple_pass_type,
    parse_declared_data,
    read_declared_data,
    render_pass_json,
)
from tests.unit.apple.helpers import make_png, sha1
from tests.unit.apple.passtype_helpers import (
    DECLARED,
    DEMO_DIR,
    default_images,
    field,
    template,
    write_pass_type,
)

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
OWNED = {
    "serial_number": "Ed34kg3oA47xyzABCDEFGH",
    "authentication_token": "tok-0123456789abcdef0123",
    "web_service_url": "https://passes.example.com/apple",
    "pass_type_identifier": "pass.com.example.demo",
    "team_identifier": "TEAMID1234",
}


def document(**overrides: Any) -> dict[str, Any]:
    doc = {
        "_id": OWNED["serial_number"],
        "passType": "loyalty",
        "status": "active",
        "identifiers": {"crm": "C-1233332"},
        "metadata": {"store": "42"},
        "additionalData": {},
    }
    return doc | overrides


def render(pass_type: ApplePassType, doc: dict[str, Any] | None = None, **owned: str) -> bytes:
    context = build_render_context(doc or document(), external={}, now=NOW)
    return render_pass_json(pass_type, context, **(OWNED | owned))


@pytest.fixture(scope="module")
def demo() -> ApplePassType:
    return load_apple_pass_type(DEMO_DIR, read_declared_data(DEMO_DIR / "passtype.toml"))


def problems_of(directory: Path, declared: DeclaredData = DECLARED) -> list[str]:
    with pytest.raises(ApplePassTypeError) as info:
        load_apple_pass_type(directory, declared)
    assert str(directory) in str(info.value)
    return info.value.problems


def only_problem(directory: Path, declared: DeclaredData = DECLARED) -> str:
    (problem,) = problems_of(directory, declared)
    return problem


# The demo pass type


def test_demo_loads_with_images_and_translations(demo: ApplePassType) -> None:
    assert demo.style == "storeCard"
    images = {
        f"{base}{scale}.png" for base in ("icon", "logo", "strip") for scale in ("", "@2x", "@3x")
    }
    assert set(demo.files) == images | {"en.lproj/pass.strings", "fr.lproj/pass.strings"}
    french = demo.files["fr.lproj/pass.strings"]
    assert french.startswith(codecs.BOM_UTF16_LE)  # shipped as UTF-16 whatever the source
    assert '"Tier" = "Niveau";' in french.decode("utf-16")
    assert demo.declared.metadata == ("store", "tier")
    assert set(demo.assets.digests) == set(demo.files)


def test_demo_renders_the_pass_data(demo: ApplePassType) -> None:
    doc = json.loads(render(demo))
    card = doc["storeCard"]
    assert card["headerFields"][0] == {
        "key": "points",
        "label": "Points",
        "value": 0,  # additionalData.points is optional: the template defaults it
        "changeMessage": "You now have %@ points",
        "textAlignment": "PKTextAlignmentRight",
    }
    assert [f["value"] for f in card["secondaryFields"]] == ["Bean", "42"]
    assert card["backFields"][0]["value"] == "C-1233332"
    assert doc["barcodes"] == [
        {
            "format": "PKBarcodeFormatQR",
            "message": OWNED["serial_number"],
            "messageEncoding": "iso-8859-1",
            "altText": OWNED["serial_number"],
        }
    ]
    rich = document(
        metadata={"store": 'Rue "Neuve"\n\\ 5 ☕', "tier": "Gold"}, additionalData={"points": 120}
    )
    card = json.loads(render(demo, rich))["storeCard"]
    assert card["headerFields"][0]["value"] == 120
    assert [f["value"] for f in card["secondaryFields"]] == ["Gold", 'Rue "Neuve"\n\\ 5 ☕']


def test_render_sets_the_keys_passwire_owns(demo: ApplePassType) -> None:
    doc = json.loads(render(demo))
    # An active pass without an expiration date carries no status keys.
    assert not set(STATUS_KEYS) & set(doc)
    assert {key: doc[key] for key in OWNED_KEYS if key not in STATUS_KEYS} == {
        "authenticationToken": OWNED["authentication_token"],
        "formatVersion": 1,
        "passTypeIdentifier": OWNED["pass_type_identifier"],
        "serialNumber": OWNED["serial_number"],
        "teamIdentifier": OWNED["team_identifier"],
        "webServiceURL": OWNED["web_service_url"],
    }


def test_render_is_deterministic_and_compact(demo: ApplePassType) -> None:
    first = render(demo)
    reordered = dict(reversed(list(document().items())))
    assert render(demo, reordered) == first
    assert b"\n" not in first and b'": ' not in first
    keys = list(json.loads(first))
    assert keys == sorted(keys)
    assert render(demo, document(metadata={"store": "43"})) != first


def test_render_refuses_a_short_authentication_token(demo: ApplePassType) -> None:
    with pytest.raises(ValueError, match="16 characters"):
        render(demo, authentication_token="short")


def test_end_to_end_demo_to_signed_pkpass(demo: ApplePassType, identity: SigningIdentity) -> None:
    pass_json = render(
        demo,
        document(additionalData={"points": 7}),
        pass_type_identifier=identity.pass_type_identifier,
        team_identifier=identity.team_identifier,
    )
    zf = zipfile.ZipFile(io.BytesIO(build_pkpass(pass_json, demo.assets, identity)))
    doc = json.loads(zf.read("pass.json"))
    assert doc["storeCard"]["headerFields"][0]["value"] == 7
    assert doc["serialNumber"] == OWNED["serial_number"]
    manifest = json.loads(zf.read("manifest.json"))
    assert set(manifest) == set(demo.files) | {"pass.json"}
    for name, digest in manifest.items():
        assert sha1(zf.read(name)) == digest
    assert zf.read("strip@3x.png") == (DEMO_DIR / "apple/strip@3x.png").read_bytes()
    assert "signature" in zf.namelist()


# Declared data ([data] in passtype.toml)


def test_declared_data_parses_and_defaults_to_nothing() -> None:
    assert parse_declared_data(None) == DeclaredData()
    declared = parse_declared_data(
        {
            "metadata": ["store", "tier-level"],
            "external": ["points"],
            "sample": {"external": {"points": 5}},
        }
    )
    assert declared.metadata == ("store", "tier-level")
    assert declared.sample("external", "points") == 5
    assert declared.sample("metadata", "store") == "sample metadata.store"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"colours": ["a"]}, r"\[data\].colours: unknown key"),
        ({"metadata": "store"}, r"\[data\].metadata: must be an array"),
        ({"metadata": ["ok", "not ok"]}, r"\[data\].metadata\[1\]: 'not ok' is not a name"),
        ({"metadata": ["a", "a"]}, "declared twice"),
        ({"metadata": ["a"], "sample": {"metadata": {"b": 1}}}, "b is not declared in"),
        ({"sample": {"other": {}}}, r"\[data\].sample.other: unknown group"),
    ],
)
def test_declared_data_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(DataDeclarationError, match=message):
        parse_declared_data(table)


# Load-time validation: each problem names the file and the field


def test_missing_icon(tmp_path: Path) -> None:
    directory = write_pass_type(tmp_path, images={"logo.png": make_png(160, 50)})
    assert only_problem(directory) == (
        "apple/icon.png: is required (Wallet refuses a pass without an icon)"
    )


def test_oversize_image(tmp_path: Path) -> None:
    directory = write_pass_type(tmp_path, files={"logo@2x.png": make_png(321, 100)})
    assert only_problem(directory) == (
        "apple/logo@2x.png: 321x100 px is larger than the 320x100 px allowed for logo at @2x "
        "(160x50 pt)"
    )


def test_non_png_image(tmp_path: Path) -> None:
    directory = write_pass_type(tmp_path, files={"strip.png": b"\xff\xd8\xff\xe0 a jpeg"})
    assert (
        only_problem(directory) == "apple/strip.png: not a PNG file (the PNG signature is missing)"
    )


def test_image_not_shown_on_the_style(tmp_path: Path) -> None:
    files = {"thumbnail.png": make_png(90, 90), "thumbnail@2x.png": make_png(180, 180)}
    directory = write_pass_type(tmp_path, files=files)
    assert only_problem(directory).startswith(
        "apple/thumbnail.png, apple/thumbnail@2x.png: thumbnail images are not shown on storeCard"
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    directory = write_pass_type(tmp_path, pass_json=template(extra='  "colour": "red",\n'))
    assert only_problem(directory) == (
        "apple/pass.json: colour: unknown top-level key (not in Apple's pass.json reference)"
    )


def test_unknown_field_key(tmp_path: Path) -> None:
    directory = write_pass_type(tmp_path, pass_json=template(fields=field("a", colour="red")))
    assert (
        only_problem(directory) == "apple/pass.json: storeCard.primaryFields[0].colour: unknown key"
    )


def test_duplicate_field_key_across_groups(tmp_path: Path) -> None:
    source = template(extra='  "eventTicket": {"backFields": []},\n').replace(
        '"primaryFields"',
        f'"headerFields": [{field("a")}], "backFields": [{field("a")}], "primaryFields"',
    )
    two_styles = write_pass_type(tmp_path, pass_json=source, name="two")
    problems = problems_of(two_styles)
    assert (
        "apple/pass.json: needs exactly one style key of boardingPass, coupon, eventTicket, "
        "generic, storeCard; found eventTicket, storeCard"
    ) in problems
    assert (
        "apple/pass.json: storeCard.backFields[0].key: duplicate field key 'a' "
        "(also storeCard.headerFields[0])"
    ) in problems


def test_template_syntax_error_names_the_line(tmp_path: Path) -> None:
    source = template(fields=field("a", "{{ pass.metadata.store | }}"))
    directory = write_pass_type(tmp_path, pass_json=source)
    assert (
        only_problem(directory)
        == "apple/pass.json:4: syntax error: expected word, found end of expression"
    )


def test_reference_to_undeclared_data(tmp_path: Path) -> None:
    fields = ", ".join(
        [
            field("a", '"{{ pass.metadata.colour }}"'),
            field("b", '"{{ external.firstName }} {{ pass.id }} {{ now }} {{ pass.status }}"'),
            field("c", '"{{ pass.secret }} {{ pass.identifiers[name] }} {{ pass.id.x }}"'),
        ]
    )
    directory = write_pass_type(tmp_path, pass_json=template(fields=fields))
    assert problems_of(directory) == [  # in source order
        "apple/pass.json:4: references pass.metadata.colour, which the pass type does not declare",
        "apple/pass.json:4: references pass.secret, which the pass type does not declare",
        "apple/pass.json:4: pass.identifiers[name] uses a computed key; name data keys literally "
        "so they can be checked",
        "apple/pass.json:4: references name, which the pass type does not declare",
        "apple/pass.json:4: references pass.id.x, which the pass type does not declare",
    ]


def test_unknown_filter(tmp_path: Path) -> None:
    directory = write_pass_type(
        tmp_path, pass_json=template(fields=field("a", '"{{ now | shout }}"'))
    )
    assert only_problem(directory) == "apple/pass.json:4: unknown filter 'shout'"


@pytest.mark.parametrize("key", OWNED_KEYS)
def test_template_must_not_set_owned_keys(tmp_path: Path, key: str) -> None:
    directory = write_pass_type(tmp_path, pass_json=template(extra=f'  "{key}": "1",\n'))
    assert (
        only_problem(directory)
        == f"apple/pass.json: {key}: is set by passwire; remove it from the template"
    )


def test_rendered_output_must_be_json(tmp_path: Path) -> None:
    # Plain output outside quotes writes escaped text, not a JSON value: use | json there.
    directory = write_pass_type(
        tmp_path, pass_json=template(fields=field("a", "{{ pass.metadata.store }}"))
    )
    problem = only_problem(directory)
    assert problem.startswith(
        "apple/pass.json: rendered output is not a valid JSON object: Expecting value"
    )
    assert "sample metadata.store" in problem  # the sample output line is shown


def test_bad_pass_strings_and_folders(tmp_path: Path) -> None:
    files = {
        "en.lproj/pass.strings": b'"a" = "b";\n',
        "fr.lproj/pass.strings": b'"a" = "b";\n"c" = "d"\n',
        "french.lproj/pass.strings": b"",
        "de.lproj/notes.txt": b"",
        "README.md": b"",
        ".DS_Store": b"",
    }
    directory = write_pass_type(tmp_path, files=files)
    assert problems_of(directory) == [
        "apple/README.md: unexpected file; expected pass.json, PNG images and <language>.lproj "
        "folders",
        "apple/de.lproj/notes.txt: unexpected file; a language folder holds pass.strings and "
        "localised images",
        "apple/fr.lproj/pass.strings: line 3: expected ';' after the value, found end of file",
        "apple/french.lproj: not a language folder (<language>.lproj, e.g. en.lproj, pt-BR.lproj, "
        "zh-Hans.lproj)",
    ]


def test_localised_images_are_checked_and_shipped(tmp_path: Path) -> None:
    files = {"fr.lproj/logo.png": make_png(160, 50), "de.lproj/logo.png": make_png(161, 50)}
    directory = write_pass_type(tmp_path, files=files)
    assert only_problem(directory).startswith("apple/de.lproj/logo.png: 161x50 px is larger")
    (tmp_path / "card/apple/de.lproj/logo.png").unlink()
    assert "fr.lproj/logo.png" in load_apple_pass_type(directory, DECLARED).files


def test_missing_pass_json_and_folder(tmp_path: Path) -> None:
    assert (
        only_problem(write_pass_type(tmp_path, with_pass_json=False))
        == "apple/pass.json: is required"
    )
    assert only_problem(tmp_path / "nothing") == "apple: folder is missing"


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    source = template(
        extra='  "colour": "red",\n  "serialNumber": "1",\n',
        fields=field("a", changeMessage="no placeholder"),
    )
    directory = write_pass_type(
        tmp_path,
        pass_json=source,
        images={"logo.png": b"GIF89a"},
        files={"en.lproj/pass.strings": b'"unterminated'},
    )
    with pytest.raises(ApplePassTypeError) as info:
        load_apple_pass_type(directory, DECLARED)
    assert len(info.value.problems) == 6
    message = str(info.value)
    for fragment in (
        "apple/pass.json: colour: unknown top-level key",
        "apple/pass.json: serialNumber: is set by passwire",
        "apple/pass.json: storeCard.primaryFields[0].changeMessage: must contain %@",
        "apple/logo.png: not a PNG file",
        "apple/icon.png: is required",
        "apple/en.lproj/pass.strings: line 1: the key string is never closed",
    ):
        assert fragment in message


def test_typed_samples_reach_the_check_render(tmp_path: Path) -> None:
    source = template(extra='  "maxDistance": {{ pass.metadata.store | json }},\n')
    directory = write_pass_type(tmp_path, pass_json=source)
    assert only_problem(directory) == "apple/pass.json: maxDistance: must be a number"
    declared = parse_declared_data(
        {"metadata": ["store"], "additionalData": ["points"], "sample": {"metadata": {"store": 50}}}
    )
    assert load_apple_pass_type(directory, declared).style == "storeCard"


# Apple's pass.json rules


COLOR = "must be a CSS-style RGB triple such as rgb(23, 187, 82), each value 0-255"
DATE = "must be a W3C date and time with a time zone, e.g. 2025-01-31T09:00:00+01:00"


def base_doc(**extra: Any) -> dict[str, Any]:
    return {"description": "d", "organizationName": "o", "generic": {"primaryFields": []}} | extra


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            {"barcode": {"format": "PKBarcodeFormatQR"}},
            ("barcode", "is deprecated since iOS 9; use barcodes (an array)"),
        ),
        (
            {
                "barcodes": [
                    {"format": "PKBarcodeFormatEAN13", "message": "m", "messageEncoding": "utf-8"}
                ]
            },
            (
                "barcodes[0].format",
                "must be one of PKBarcodeFormatAztec, PKBarcodeFormatCode128, "
                "PKBarcodeFormatPDF417, PKBarcodeFormatQR",
            ),
        ),
        (
            {"barcodes": [{"format": "PKBarcodeFormatQR", "message": "m"}]},
            ("barcodes[0].messageEncoding", "is required"),
        ),
        ({"backgroundColor": "#ffffff"}, ("backgroundColor", COLOR)),
        ({"labelColor": "rgb(0, 256, 0)"}, ("labelColor", COLOR)),
        ({"relevantDate": "2025-01-01T10:00"}, ("relevantDate", DATE)),
        ({"locations": [{"latitude": 1}]}, ("locations[0].longitude", "is required")),
        (
            {"locations": [{"latitude": 1, "longitude": "2"}]},
            ("locations[0].longitude", "must be a number"),
        ),
        ({"appLaunchURL": "app://x"}, ("appLaunchURL", "needs associatedStoreIdentifiers")),
        ({"semantics": []}, ("semantics", "must be an object")),
        ({"relevantDates": [{"startDate": "soon"}]}, ("relevantDates[0].startDate", DATE)),
    ],
)
def test_pass_json_rules(extra: dict[str, Any], problem: tuple[str, str]) -> None:
    assert validate_pass_json(base_doc(**extra)) == [problem]


def test_valid_optional_keys_pass() -> None:
    doc = base_doc(
        relevantDate="2025-06-01T09:30:00.5+02:00",
        locations=[{"latitude": 48.85, "longitude": 2.35, "relevantText": "Near you"}],
        barcodes=[
            {
                "format": "PKBarcodeFormatCode128",
                "message": "1",
                "messageEncoding": "iso-8859-1",
                "altText": "1",
            }
        ],
        semantics={"anything": {"goes": True}},
        foregroundColor="rgb(0,0,0)",
        userInfo=[1, 2],
        sharingProhibited=True,
    )
    doc["generic"] = {
        "primaryFields": [
            {"key": "a", "value": 1.5, "numberStyle": "PKNumberStylePercent", "semantics": {}},
            {
                "key": "b",
                "value": "2025-01-01T00:00Z",
                "dateStyle": "PKDateStyleShort",
                "isRelative": True,
            },
            {"key": "c", "value": 3, "currencyCode": "EUR", "changeMessage": "Now %@"},
        ]
    }
    assert validate_pass_json(doc) == []


def test_field_and_style_rules() -> None:
    doc = base_doc(
        generic={
            "primaryFields": [
                {"label": "no key or value"},
                {"key": "k", "value": None, "textAlignment": "left"},
            ],
            "frontFields": [],
            "transitType": "PKTransitTypeAir",
        }
    )
    assert validate_pass_json(doc) == [
        ("generic.primaryFields[0].key", "is required"),
        ("generic.primaryFields[0].value", "is required"),
        ("generic.primaryFields[1].value", "must be a string (text or ISO 8601 date) or a number"),
        (
            "generic.primaryFields[1].textAlignment",
            "must be one of PKTextAlignmentCenter, PKTextAlignmentLeft, PKTextAlignmentNatural, "
            "PKTextAlignmentRight",
        ),
        ("generic.frontFields", "unknown key"),
        ("generic.transitType", "is only allowed on boardingPass"),
    ]
    boarding = {"description": "d", "organizationName": "o", "boardingPass": {"primaryFields": []}}
    assert validate_pass_json(boarding) == [
        ("boardingPass.transitType", "is required on boardingPass")
    ]
    assert validate_pass_json({"generic": {}}) == [
        ("description", "is required"),
        ("organizationName", "is required"),
    ]


# Render-time failures


def test_render_time_missing_value_is_a_render_error(tmp_path: Path) -> None:
    directory = write_pass_type(
        tmp_path, pass_json=template(fields=field("a", '"{{ pass.metadata.tier }}"'))
    )
    pass_type = load_apple_pass_type(directory, DECLARED)
    with pytest.raises(PassRenderError) as info:
        render(pass_type, document(metadata={}))
    assert info.value.problems == ["apple/pass.json:4: pass.metadata.tier is undefined"]


def test_render_time_checks_catch_data_dependent_problems(tmp_path: Path) -> None:
    source = template(
        extra='  {% if pass.metadata.tier == "vip" %}"serialNumber": "stolen",{% endif %}\n'
        '  "maxDistance": {{ pass.additionalData.points | json }},\n'
    )
    pass_type = load_apple_pass_type(
        write_pass_type(tmp_path, pass_json=source),
        parse_declared_data(
            {
                "metadata": ["tier"],
                "additionalData": ["points"],
                "sample": {"additionalData": {"points": 1}},
            }
        ),
    )
    with pytest.raises(PassRenderError) as info:
        render(pass_type, document(metadata={"tier": "vip"}, additionalData={"points": "lots"}))
    assert info.value.problems == [
        "apple/pass.json: serialNumber: is set by passwire; remove it from the template",
        "apple/pass.json: maxDistance: must be a number",
    ]
    assert "lots" not in str(info.value)  # pass data stays out of error messages


def test_images_default_helper_is_valid(tmp_path: Path) -> None:
    loaded = load_apple_pass_type(write_pass_type(tmp_path), DECLARED)
    assert set(loaded.files) == set(default_images())


def test_strip_on_a_generic_pass(tmp_path: Path) -> None:
    directory = write_pass_type(
        tmp_path, pass_json=template(style="generic"), files={"strip.png": make_png(375, 144)}
    )
    assert only_problem(directory) == (
        "apple/strip.png: strip images are not shown on generic passes "
        "(allowed: icon, logo, thumbnail)"
    )


def test_render_time_style_must_match_the_loaded_one(tmp_path: Path) -> None:
    source = template().replace(
        '"storeCard"', '"{% if pass.metadata.tier == "x" %}coupon{% else %}storeCard{% endif %}"'
    )
    pass_type = load_apple_pass_type(write_pass_type(tmp_path, pass_json=source), DECLARED)
    with pytest.raises(PassRenderError) as info:
        render(pass_type, document(metadata={"tier": "x"}, additionalData={"points": 1}))
    assert info.value.problems == ["apple/pass.json: renders a coupon pass; this one is storeCard"]
