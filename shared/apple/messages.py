"""Messages on an Apple pass: a lock-screen alert, and the last few on the back of the pass.

An APNs push to Wallet carries no text. Wallet shows an alert only when a field with a
`changeMessage` has a different value in the pass it fetches than in the pass it had, and
puts that field's (localised) value where the changeMessage says `%@`. So:

- the newest message is the value of one field (`passwire.message`, `changeMessage` "%@");
- that value is a key unique to the message (`msg-<messageId>`), resolved through each
  `<lang>.lproj/pass.strings` of the pass to the text in that language. The same text sent
  twice is two messages, two keys, two changed values: two alerts;
- older messages stay on the back, each in a field keyed by its own message id and without a
  changeMessage: their values never change, so a new message changes exactly one field (when
  several fields with a changeMessage change at once, Wallet shows a generic "pass changed").

A pass type may place the newest message itself: a field whose value is
`{{ message.text }}` (the key) and whose changeMessage contains `%@`; passwire then adds only
the older messages. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.apple.strings import LPROJ_PATTERN, STRINGS_NAME, decode_strings, to_utf16

TEMPLATE_VARIABLE = "message"  # {{ message.text }} in a pass.json template
CURRENT_FIELD_KEY = "passwire.message"
OLDER_FIELD_PREFIX = "passwire.message."  # + the message id
RESERVED_FIELD_PREFIX = "passwire."  # field keys a template may not use
STRING_KEY_PREFIX = "msg-"  # pass.strings keys a pass type may not define
CHANGE_MESSAGE = "%@"
# The language a message's `content` is filed under when the pass type has no .lproj folder
# (a device whose language has no folder reads the only one there is).
DEFAULT_LANGUAGE = "en"
_STRINGS_SUFFIX = f".lproj/{STRINGS_NAME}"


@dataclass(frozen=True)
class PassMessage:
    """A message as the pass carries it (shared/passes/messages.py keeps the records)."""

    id: str
    content: str
    localized: Mapping[str, str] = field(default_factory=dict)  # language tag → text
    # False: delivered silently (the value changes, no changeMessage, so no alert).
    alert: bool = True

    @property
    def key(self) -> str:
        return f"{STRING_KEY_PREFIX}{self.id}"


def from_records(records: Sequence[Mapping[str, Any]]) -> tuple[PassMessage, ...]:
    """The pass document's `messages` list (newest first) as PassMessages."""
    if not records:  # most passes, twice per render: no generator to make
        return ()
    return tuple(
        PassMessage(
            id=str(record["id"]),
            content=str(record["content"]),
            localized=dict(record.get("localizedContent") or {}),
            alert=bool(record.get("alert", True)),
        )
        for record in records
    )


def template_value(messages: Sequence[PassMessage]) -> dict[str, str]:
    """What `message` is in a pass.json template: `text`, the newest message's key ("" when
    the pass has none yet)."""
    return {"text": messages[0].key if messages else ""}


def _current_field(message: PassMessage) -> dict[str, Any]:
    current: dict[str, Any] = {"key": CURRENT_FIELD_KEY, "value": message.key}
    if message.alert:
        current["changeMessage"] = CHANGE_MESSAGE
    return current


def add_message_fields(
    doc: dict[str, Any], messages: Sequence[PassMessage], *, style: str, template_places: bool
) -> None:
    """Put the messages on the back of a rendered pass.json `doc`, newest first, before the
    template's own back fields. `template_places`: the template shows the newest itself."""
    if not messages:
        return
    fields = [] if template_places else [_current_field(messages[0])]
    fields.extend(
        {"key": f"{OLDER_FIELD_PREFIX}{message.id}", "value": message.key}
        for message in messages[1:]
    )
    body = doc[style]
    body["backFields"] = fields + list(body.get("backFields") or [])


def lproj_language(tag: str) -> str | None:
    """An API language tag (BCP 47, any case: "pt-br", "zh-hans") as Apple names its
    folder ("pt-BR", "zh-Hans"); None when Apple's folder names cannot say it."""
    parts = tag.replace("_", "-").split("-")
    shaped = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            shaped.append(part.title())
        elif len(part) == 2 and part.isalpha():
            shaped.append(part.upper())
        else:
            shaped.append(part)
    name = "-".join(shaped)
    return name if LPROJ_PATTERN.match(f"{name}.lproj") else None


def _canonical(language: str) -> str:
    return language.replace("_", "-").lower()


@dataclass(frozen=True)
class TypeStrings:
    """A pass type's languages and pass.strings, prepared once at load: per folder, the
    UTF-16 bytes each pass's own file starts with (BOM and the pass type's entries)."""

    folders: Mapping[str, str]  # canonical language → folder name ("pt-br" → "pt-BR")
    heads: Mapping[str, bytes]  # folder name → start of its pass.strings (UTF-16LE + BOM)

    @classmethod
    def of(cls, type_files: Mapping[str, bytes]) -> TypeStrings:
        folders: dict[str, str] = {}
        texts: dict[str, str] = {}
        for name, data in type_files.items():
            folder, _, rest = name.partition(".lproj/")
            if not rest:
                continue
            folders[_canonical(folder)] = folder
            if rest == STRINGS_NAME:
                text = decode_strings(data)
                texts[folder] = text if not text or text.endswith("\n") else text + "\n"
        return cls(folders, {folder: to_utf16(text) for folder, text in texts.items()})

    def head_for(self, canonical: str, fallback: str) -> bytes:
        """The pass type's entries for a language: its own, else its base language's (fr for
        fr-CA), else the fallback folder's; none at all when the pass type has none."""
        for folder in (
            self.folders.get(canonical),
            self.folders.get(canonical.split("-", maxsplit=1)[0]),
            fallback,
        ):
            if folder is not None and folder in self.heads:
                return self.heads[folder]
        return to_utf16("")


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )


def _entry(key: str, value: str) -> str:
    return f'"{_escape(key)}" = "{_escape(value)}";\n'


def message_strings(type_strings: TypeStrings, messages: Sequence[PassMessage]) -> dict[str, bytes]:
    """The pass's own `<lang>.lproj/pass.strings` files: for every language the pass type
    has and every language a message has, the pass type's entries (for a language it lacks:
    those of the same base language, else of DEFAULT_LANGUAGE or its first) plus each
    message's key, resolved to its text in that language, or to `content`. Empty when there
    are no messages: such passes use the pass type's files as they are."""
    if not messages:
        return {}
    folders = dict(type_strings.folders)
    if not folders:  # a device whose language has no folder must still find `content`
        folders[DEFAULT_LANGUAGE] = DEFAULT_LANGUAGE
    texts: list[dict[str, str]] = []  # per message: canonical language → text
    for message in messages:
        by_language: dict[str, str] = {}
        for tag, text in message.localized.items():
            language = lproj_language(tag)
            if language is not None:
                folders.setdefault(_canonical(language), language)
                by_language[_canonical(language)] = text
        texts.append(by_language)
    fallback = folders.get(DEFAULT_LANGUAGE) or folders[min(folders)]
    files: dict[str, bytes] = {}
    for canonical, folder in sorted(folders.items()):
        entries = "".join(
            _entry(message.key, localized.get(canonical, message.content))
            for message, localized in zip(messages, texts, strict=True)
        )
        head = type_strings.head_for(canonical, fallback)
        files[f"{folder}{_STRINGS_SUFFIX}"] = head + entries.encode("utf-16-le")
    return files


def is_strings_file(name: str) -> bool:
    return name.endswith(_STRINGS_SUFFIX)
