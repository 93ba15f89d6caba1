from __future__ import annotations

import codecs

import pytest

from shared.apple.strings import (
    LPROJ_PATTERN,
    StringsError,
    decode_strings,
    parse_pass_strings,
    to_utf16,
)

SAMPLE = """/* Header comment
   over two lines */
"Points" = "Points";
// line comment
"You now have %@ points"="Vous avez %@ points" ;
"quote" = "say \\"hi\\"\\n\\ttab \\\\ \\U00e9";
"""
EXPECTED = {
    "Points": "Points",
    "You now have %@ points": "Vous avez %@ points",
    "quote": 'say "hi"\n\ttab \\ é',
}


@pytest.mark.parametrize(
    "data",
    [
        SAMPLE.encode("utf-8"),
        codecs.BOM_UTF8 + SAMPLE.encode("utf-8"),
        codecs.BOM_UTF16_LE + SAMPLE.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + SAMPLE.encode("utf-16-be"),
    ],
)
def test_parses_utf8_and_utf16(data: bytes) -> None:
    assert parse_pass_strings(data) == EXPECTED


def test_empty_and_comment_only_files_are_fine() -> None:
    assert parse_pass_strings(b"") == {}
    assert parse_pass_strings(b"/* nothing yet */\n") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"a" = "b"\n"c" = "d";\n', "line 2: expected ';' after the value"),
        ('"a" "b";', "line 1: expected '=' after the key"),
        ('\n\n"a" = "b', "line 3: the value string is never closed"),
        ("a = b;", "line 1: expected '\"' to open the key"),
        ('"a" = "b";\n"a" = "c";', "line 2: key 'a' is defined twice"),
        ('"a" = "\\q";', "unknown escape \\\\q"),
        ('"a" = "\\U12";', "4 hex digits"),
        ('/* open\n"a" = "b";', "comment is never closed"),
        ('"a" = ', "expected '\"' to open the value, found end of file"),
    ],
)
def test_syntax_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(StringsError, match=message):
        parse_pass_strings(text.encode())


def test_encoding_errors() -> None:
    with pytest.raises(StringsError, match="byte order mark"):
        parse_pass_strings('"a" = "b";'.encode("utf-16-le"))
    with pytest.raises(StringsError, match="not valid UTF-8"):
        parse_pass_strings(b'"a" = "\xe9";')


def test_to_utf16_is_little_endian_with_bom_and_round_trips() -> None:
    data = to_utf16('"é" = "€";')
    assert data.startswith(codecs.BOM_UTF16_LE)
    assert decode_strings(data) == '"é" = "€";'


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("en.lproj", True),
        ("fr.lproj", True),
        ("pt-BR.lproj", True),
        ("zh-Hans.lproj", True),
        ("zh-Hant-TW.lproj", True),
        ("es-419.lproj", True),
        ("en_GB.lproj", True),
        ("english.lproj", False),
        ("EN.lproj", False),
        ("pt-br.lproj", False),
        (".lproj", False),
        ("en.lproj.bak", False),
    ],
)
def test_language_folder_names(name: str, ok: bool) -> None:
    assert bool(LPROJ_PATTERN.match(name)) is ok
