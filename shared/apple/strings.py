"""`<language>.lproj/pass.strings`: Wallet's localisation files, `"key" = "value";` entries.

We accept UTF-8 (with or without a byte order mark) and UTF-16 with a byte order mark, and
ship every file as UTF-16LE with a BOM: the encoding Apple's strings files have always been
read in, so a pass never depends on a device guessing the encoding.
"""

from __future__ import annotations

import codecs
import re

STRINGS_NAME = "pass.strings"
# BCP 47-style language folder names as Apple uses them: en, fr, pt-BR, zh-Hans, es-419,
# zh-Hant-TW; Apple's older underscore form (en_GB) is accepted too.
LPROJ_PATTERN = re.compile(
    r"^(?P<lang>[a-z]{2,3}(?:[-_][A-Z][a-z]{3})?(?:[-_](?:[A-Z]{2}|[0-9]{3}))?)\.lproj$"
)

_ESCAPES = {'"': '"', "\\": "\\", "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class StringsError(ValueError):
    """A pass.strings file cannot be read; the message names the line."""


def decode_strings(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # the BOM tells the byte order
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif b"\x00" in data:
        raise StringsError("looks like UTF-16 without a byte order mark; save it with a BOM")
    else:
        encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise StringsError(f"not valid {encoding.upper()}: {exc.reason}") from exc


def to_utf16(text: str) -> bytes:
    """UTF-16LE with a BOM: fixed byte order so equal text gives equal bytes on any host."""
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> StringsError:
        line = self.text.count("\n", 0, self.pos) + 1
        return StringsError(f"line {line}: {message}")

    def skip_blank(self) -> None:
        """Skip whitespace and /* */ and // comments."""
        text = self.text
        while self.pos < len(text):
            if text[self.pos].isspace():
                self.pos += 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("comment is never closed with */")
                self.pos = end + 2
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end + 1
            else:
                return

    def expect(self, char: str, what: str) -> None:
        self.skip_blank()
        if not self.text.startswith(char, self.pos):
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of file"
            raise self.error(f"expected {char!r} {what}, found {found}")
        self.pos += 1

    def string(self, what: str) -> str:
        self.expect('"', f"to open the {what}")
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char != "\\":
                out.append(char)
                continue
            out.append(self.escape())
        raise self.error(f"the {what} string is never closed with a quote")

    def escape(self) -> str:
        text = self.text
        if self.pos >= len(text):
            raise self.error("backslash at end of file")
        char = text[self.pos]
        self.pos += 1
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char in "Uu":
            digits = text[self.pos : self.pos + 4]
            if len(digits) != 4 or not set(digits) <= _HEX_DIGITS:
                raise self.error(f"\\{char} must be followed by 4 hex digits")
            self.pos += 4
            return chr(int(digits, 16))
        raise self.error(f"unknown escape \\{char}")


def parse_pass_strings(data: bytes) -> dict[str, str]:
    """Parse a pass.strings file; StringsError names the first problem and its line."""
    return parse_strings_text(decode_strings(data))


def parse_strings_text(text: str) -> dict[str, str]:
    parser = _Parser(text)
    entries: dict[str, str] = {}
    while True:
        parser.skip_blank()
        if parser.pos >= len(parser.text):
            return entries
        start = parser.pos
        key = parser.string("key")
        parser.expect("=", "after the key")
        value = parser.string("value")
        parser.expect(";", "after the value")
        if key in entries:
            parser.pos = start
            raise parser.error(f"key {key!r} is defined twice")
        entries[key] = value
