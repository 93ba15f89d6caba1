"""Messages on an Apple pass: the field Wallet alerts on, the history on the back, the
per-pass pass.strings that resolve each message key in the holder's language, and what a
pass type's template may do with `{{ message.text }}`."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.apple import issuing
from shared.apple.certificates import SigningIdentity
from shared.apple.messages import (
    CURRENT_FIELD_KEY,
    PassMessage,
    TypeStrings,
    lproj_language,
    message_strings,
)
from shared.apple.package import assemble_pkpass, sign_pass
from shared.apple.passtype import (
    ApplePassType,
    ApplePassTypeError,
    build_render_context,
    load_apple_pass_type,
    read_declared_data,
    render_pass_json,
)
from shared.apple.strings import parse_pass_strings
from tests.unit.apple.helpers import sha1
from tests.unit.apple.passtype_helpers import DECLARED, DEMO_DIR, field, template, write_pass_type

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
OWNED = {
    "serial_number": "Ed34kg3oA47xyzABCDEFGH",
    "authentication_token": "tok-0123456789abcdef0123",
    "web_service_url": "https://passes.example.com/apple",
    "pass_type_identifier": "pass.com.example.demo",
    "team_identifier": "TEAMID1234",
}


@pytest.fixture(scope="module")
def demo() -> ApplePassType:
    return load_apple_pass_type(DEMO_DIR, read_declared_data(DEMO_DIR / "passtype.toml"))


def record(message_id: str, content: str, **localized: str) -> dict[str, Any]:
    return {"id": message_id, "content": content, "localizedContent": localized, "at": NOW}


def document(*messages: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": OWNED["serial_number"],
        "passType": "loyalty",
        "identifiers": {"crm": "C-1"},
        "metadata": {},
        "additionalData": {"points": 3},
    }
    if messages:
        doc["messages"] = list(messages)
    return doc


def render(pass_type: ApplePassType, doc: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """pass.json as issuing.render makes it: the template, then the messages."""
    context = build_render_context(doc, external={}, now=NOW)
    raw, _ = issuing.with_messages(pass_type, render_pass_json(pass_type, context, **OWNED), doc)
    return json.loads(raw), raw


def strings_of(files: dict[str, bytes], language: str) -> dict[str, str]:
    return parse_pass_strings(files[f"{language}.lproj/pass.strings"])


def test_the_newest_message_is_a_back_field_wallet_alerts_on(demo: ApplePassType) -> None:
    doc, _ = render(demo, document(record("op2", "Second"), record("op1", "First")))
    back = doc["storeCard"]["backFields"]
    assert back[0] == {"key": CURRENT_FIELD_KEY, "value": "msg-op2", "changeMessage": "%@"}
    # The older one stays readable, under a key of its own and with no changeMessage, so a
    # new message changes exactly one alerting field.
    assert back[1] == {"key": "passwire.message.op1", "value": "msg-op1"}
    assert [f["key"] for f in back[2:]] == ["member", "terms"]  # the template's, after


def test_a_silent_message_changes_the_value_without_alerting(demo: ApplePassType) -> None:
    silent = {**record("op2", "Quiet"), "alert": False}
    doc, _ = render(demo, document(silent, record("op1", "Loud")))
    current = doc["storeCard"]["backFields"][0]
    assert current == {"key": CURRENT_FIELD_KEY, "value": "msg-op2"}  # no changeMessage


def test_a_pass_without_messages_renders_as_before(demo: ApplePassType) -> None:
    """The template's bytes untouched (not even re-serialised) and no strings of its own."""
    context = build_render_context(document(), external={}, now=NOW)
    template_output = render_pass_json(demo, context, **OWNED)
    assert issuing.with_messages(demo, template_output, document()) == (template_output, {})
    assert b"passwire.message" not in template_output


def test_strings_resolve_each_message_in_each_language(demo: ApplePassType) -> None:
    messages = [
        PassMessage("op2", "Double points today", {"fr": "Points doublés aujourd'hui"}),
        PassMessage("op1", 'Say "hi"\nplease'),
    ]
    files = message_strings(demo.type_strings, messages)
    assert set(files) == {"en.lproj/pass.strings", "fr.lproj/pass.strings"}
    french, english = strings_of(files, "fr"), strings_of(files, "en")
    assert french["msg-op2"] == "Points doublés aujourd'hui"
    assert english["msg-op2"] == "Double points today"
    # A language the message lacks falls back to `content`; escapes survive the round trip.
    assert french["msg-op1"] == english["msg-op1"] == 'Say "hi"\nplease'
    # The pass type's own entries are kept.
    assert french["Next reward"] == "Prochaine récompense"
    assert english["Next reward"] == "Next reward"


def test_a_message_language_the_pass_type_lacks_gets_a_folder(demo: ApplePassType) -> None:
    files = message_strings(
        demo.type_strings, [PassMessage("op", "Hello", {"pt-br": "Olá", "fr-CA": "Allô"})]
    )
    assert strings_of(files, "pt-BR")["msg-op"] == "Olá"
    # Other entries come from the same base language when the pass type has it...
    assert strings_of(files, "fr-CA")["Next reward"] == "Prochaine récompense"
    assert strings_of(files, "fr-CA")["msg-op"] == "Allô"
    # ...else from English.
    assert strings_of(files, "pt-BR")["Next reward"] == "Next reward"


def test_a_pass_type_without_languages_files_content_under_english() -> None:
    files = message_strings(
        TypeStrings.of({"icon.png": b"png"}), [PassMessage("op", "Hello", {"de": "Hallo"})]
    )
    assert strings_of(files, "en") == {"msg-op": "Hello"}
    assert strings_of(files, "de") == {"msg-op": "Hallo"}


def test_sending_the_same_text_twice_changes_the_value(demo: ApplePassType) -> None:
    first, _ = render(demo, document(record("op1", "Same")))
    second, _ = render(demo, document(record("op2", "Same"), record("op1", "Same")))
    value = {f["key"]: f["value"] for f in first["storeCard"]["backFields"]}
    again = {f["key"]: f["value"] for f in second["storeCard"]["backFields"]}
    assert value[CURRENT_FIELD_KEY] != again[CURRENT_FIELD_KEY]


@pytest.mark.parametrize(
    ("tag", "folder"),
    [
        ("fr", "fr"),
        ("pt-br", "pt-BR"),
        ("zh-hans", "zh-Hans"),
        ("es-419", "es-419"),
        ("x-klingon", None),
    ],
)
def test_api_language_tags_become_apple_folder_names(tag: str, folder: str | None) -> None:
    assert lproj_language(tag) == folder


def test_a_message_pass_ships_its_own_strings_signed(
    demo: ApplePassType, identity: SigningIdentity
) -> None:
    """The manifest covers the per-pass strings, which replace the pass type's (no member
    twice), and the images come from the pass type's archive unchanged."""
    strings = message_strings(demo.type_strings, [PassMessage("op", "Hi", {"fr": "Salut"})])
    pass_json = json.dumps(
        {
            "passTypeIdentifier": identity.pass_type_identifier,
            "teamIdentifier": identity.team_identifier,
        }
    ).encode()
    assert demo.message_assets is not None
    signed = sign_pass(pass_json, demo.message_assets, identity, extra_files=strings)
    archive = zipfile.ZipFile(io.BytesIO(assemble_pkpass(demo.assets_for(True), signed)))
    names = archive.namelist()
    assert len(names) == len(set(names))
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest) == set(names) - {"manifest.json", "signature"}
    for name in names:
        if name not in ("manifest.json", "signature"):
            assert manifest[name] == sha1(archive.read(name))
    assert parse_pass_strings(archive.read("fr.lproj/pass.strings"))["msg-op"] == "Salut"
    assert archive.read("icon.png") == demo.files["icon.png"]


def test_a_template_may_place_the_message_itself(tmp_path: Path) -> None:
    fields = ",".join(
        [
            field("points", "{{ pass.additionalData.points | json }}"),
            field("news", '"{{ message.text }}"', changeMessage="News: %@"),
        ]
    )
    loaded = load_apple_pass_type(
        write_pass_type(tmp_path, pass_json=template(fields=fields)), DECLARED
    )
    assert loaded.places_message
    doc, _ = render(
        loaded,
        {**document(record("op2", "B"), record("op1", "A")), "additionalData": {"points": 1}},
    )
    news = next(f for f in doc["storeCard"]["primaryFields"] if f["key"] == "news")
    assert news["value"] == "msg-op2"
    # passwire adds only the older messages.
    assert [f["key"] for f in doc["storeCard"]["backFields"]] == ["passwire.message.op1"]
    # Before the first message the field is there, empty, so the first one changes it.
    empty, _ = render(loaded, {**document(), "additionalData": {"points": 1}})
    assert next(f for f in empty["storeCard"]["primaryFields"] if f["key"] == "news")["value"] == ""


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (field("news", '"{{ message.text }}"'), "message.text"),  # no changeMessage: no alert
        (field("news", '"News {{ message.text }}"', changeMessage="%@"), "message.text"),
        (field("passwire.mine", '"x"'), "passwire."),
    ],
)
def test_a_template_that_drops_the_alert_fails_to_load(
    tmp_path: Path, fields: str, reason: str
) -> None:
    directory = write_pass_type(tmp_path, pass_json=template(fields=fields))
    with pytest.raises(ApplePassTypeError) as raised:
        load_apple_pass_type(directory, DECLARED)
    assert any(reason in problem for problem in raised.value.problems)


def test_pass_strings_may_not_define_message_keys(tmp_path: Path) -> None:
    strings = b'"msg-1" = "mine";\n'
    directory = write_pass_type(tmp_path, files={"en.lproj/pass.strings": strings})
    with pytest.raises(ApplePassTypeError) as raised:
        load_apple_pass_type(directory, DECLARED)
    assert any("msg-" in problem for problem in raised.value.problems)


def test_message_template_variable_is_only_text(tmp_path: Path) -> None:
    fields = field("news", '"{{ message.content }}"', changeMessage="%@")
    with pytest.raises(ApplePassTypeError) as raised:
        load_apple_pass_type(write_pass_type(tmp_path, pass_json=template(fields=fields)), DECLARED)
    assert any("message.content" in problem for problem in raised.value.problems)


def test_the_content_hash_covers_the_strings() -> None:
    assert issuing.content_hash(b"{}") == issuing.content_hash(b"{}", {})
    assert issuing.content_hash(b"{}", {"en.lproj/pass.strings": b"a"}) != issuing.content_hash(
        b"{}", {"en.lproj/pass.strings": b"b"}
    )
