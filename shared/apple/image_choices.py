"""Per-pass images: an Apple image (strip, thumbnail...) picked per pass from an image set.

A stamp card shows the stamps collected, a membership card its tier's badge. passtype.toml
declares, per image, a template over the pass's data (the Liquid of shared/apple/templates.py,
reading only declared data, as pass.json does) and the finite list of names it may give:

    [apple.images.strip]
    choice = "stamps-{{ pass.additionalData.stamps | default: 0 }}"
    choices = ["stamps-0", "stamps-1", "stamps-2"]
    fallback = "stamps-2"  # optional: used when the choice renders to a name not listed

Each choice is `apple/images/<name>.png`, `<name>@2x.png` and `<name>@3x.png`, checked at
load for the image it stands for (the strip's sizes here). Listing the choices is what lets
the load check prove every pass gets an image that exists; a pass whose choice renders to an
unlisted name and no fallback fails to render (its data is refused), never ships a hole.

The chosen images go into the pass's manifest and content hash: a pass whose choice changes
is re-signed and pushed, one whose choice stays the same is unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shared.apple.images import IMAGE_NAMES, image_problems, style_problems
from shared.apple.manifest import sha1_hex
from shared.apple.templates import (
    JsonTemplate,
    Reference,
    TemplateRenderError,
    TemplateSyntaxError,
    parse_template,
    referenced_variables,
    unknown_filters,
)

IMAGE_SET_FOLDER = "images"  # inside apple/
SOURCE = "passtype.toml"
CHOICE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # used with fullmatch
SCALES = ("", "@2x", "@3x")  # every choice ships every density
MAX_CHOICES = 100
_KEYS = ("choice", "choices", "fallback")
# The icon is in every notification and on the lock screen: one per pass type.
_FIXED_IMAGES = frozenset({"icon"})


class ImageChoiceError(ValueError):
    """A pass's data picks no declared image; the message names the field, not the data."""


@dataclass(frozen=True, eq=False)
class ImageChoice:
    """One image picked per pass: its slot ("strip"), the template naming the choice."""

    slot: str
    template: JsonTemplate
    choices: tuple[str, ...]
    fallback: str | None

    def choose(self, context: Mapping[str, Any]) -> str:
        try:
            name = self.template.render(context).strip()
        except TemplateRenderError as exc:
            raise ImageChoiceError(f"{self.template.name}: {exc}") from exc
        if name in self.choices:
            return name
        if self.fallback is not None:
            return self.fallback
        raise ImageChoiceError(
            f"{self.template.name}: renders a name that is not one of its choices "
            "(add it to choices, or declare a fallback)"
        )


@dataclass(frozen=True, eq=False)
class ImageChoices:
    """Every per-pass image of a pass type and the files of each choice; immutable."""

    slots: tuple[ImageChoice, ...]
    # slot -> choice -> pass member name ("strip@2x.png") -> PNG bytes
    files_by_choice: Mapping[str, Mapping[str, Mapping[str, bytes]]] = field(repr=False)
    # slot -> choice -> what the content hash takes of it (_choice_digest)
    choice_digests: Mapping[str, Mapping[str, str]] = field(repr=False)

    def choose(self, context: Mapping[str, Any]) -> dict[str, str]:
        """slot -> choice for a render context. Raises ImageChoiceError."""
        return {choice.slot: choice.choose(context) for choice in self.slots}

    def files(self, selection: Mapping[str, str]) -> dict[str, bytes]:
        """The pass members of a selection ({"strip": "stamps-3"} -> strip.png, @2x, @3x).
        Raises ImageChoiceError for a selection this pass type cannot show (a pass stored
        before its pass type changed)."""
        if set(selection) != set(self.files_by_choice):
            raise ImageChoiceError(f"images {sorted(selection)} are not this pass type's")
        members: dict[str, bytes] = {}
        for slot, name in selection.items():
            choice = self.files_by_choice[slot].get(name)
            if choice is None:
                raise ImageChoiceError(f"{SOURCE}: apple.images.{slot}: no choice {name!r}")
            members.update(choice)
        return members

    def fingerprint(self, selection: Mapping[str, str]) -> str:
        """A digest of the chosen images' names and bytes, for the pass's content hash (from
        digests made once at load: a pass render hashes no image)."""
        self.files(selection)  # refuses a selection this pass type cannot show
        parts = (self.choice_digests[slot][selection[slot]] for slot in sorted(selection))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _choice_digest(slot: str, name: str, members: Mapping[str, bytes]) -> str:
    """The slot, the choice and each of its files' SHA-1 (the manifest's own digest)."""
    entries = [slot, name, *(f"{member}:{sha1_hex(members[member])}" for member in sorted(members))]
    return "\0".join(entries)


def read_image_set(apple_dir: Path) -> tuple[dict[str, bytes], list[str]]:
    """The files of `apple/images/` by name, and problems ("apple/images/x: reason")."""
    folder = apple_dir / IMAGE_SET_FOLDER
    files: dict[str, bytes] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return files, problems
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file():
            files[path.name] = path.read_bytes()
        else:
            problems.append(f"{_label(path.name)}: unexpected folder; the image set is flat")
    return files, problems


def _label(file_name: str) -> str:
    return f"apple/{IMAGE_SET_FOLDER}/{file_name}"


def _field(slot: str, key: str | None = None) -> str:
    return f"{SOURCE}: apple.images.{slot}" + (f".{key}" if key else "")


def _parse_choices(slot: str, raw: object, problems: list[str]) -> tuple[str, ...]:
    where = _field(slot, "choices")
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: must be a non-empty array of image names")
        return ()
    if len(raw) > MAX_CHOICES:
        problems.append(f"{where}: at most {MAX_CHOICES} choices")
    names: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, str) or not CHOICE_NAME.fullmatch(item):
            problems.append(
                f"{where}[{index}]: {item!r} is not an image name (lower-case letters, digits, "
                "_ or -)"
            )
        elif item in names:
            problems.append(f"{where}[{index}]: {item!r} is listed twice")
        else:
            names.append(item)
    return tuple(names)


def _choice_files(
    slot: str, name: str, image_set: Mapping[str, bytes], problems: list[str]
) -> dict[str, bytes]:
    """strip.png, strip@2x.png, strip@3x.png for choice `name`, each checked for `slot`."""
    members: dict[str, bytes] = {}
    for scale in SCALES:
        file_name, member = f"{name}{scale}.png", f"{slot}{scale}.png"
        data = image_set.get(file_name)
        if data is None:
            problems.append(
                f"{_label(file_name)}: is missing ({_field(slot, 'choices')} lists {name!r}; "
                "each choice needs @1x, @2x and @3x)"
            )
            continue
        reasons = image_problems(member, data)
        problems.extend(f"{_label(file_name)}: {reason} ({_field(slot)})" for reason in reasons)
        members[member] = data
    return members


def _parse_template(
    slot: str,
    raw: object,
    reference_problem: Callable[[Reference], str | None],
    problems: list[str],
) -> JsonTemplate | None:
    where = _field(slot, "choice")
    if not isinstance(raw, str) or not raw.strip():
        problems.append(f"{where}: must be a template string naming the image")
        return None
    try:
        template = parse_template(raw, where)
    except TemplateSyntaxError as exc:
        problems.append(f"{where}: syntax error: {exc}")
        return None
    found = [
        f"{where}: {reason}"
        for ref in referenced_variables(template)
        if (reason := reference_problem(ref)) is not None
    ]
    found.extend(f"{where}: unknown filter {name!r}" for name, _ in unknown_filters(template))
    problems.extend(found)
    return None if found else template


def _parse_slot(
    slot: str,
    raw: object,
    image_set: Mapping[str, bytes],
    reference_problem: Callable[[Reference], str | None],
    problems: list[str],
) -> tuple[ImageChoice | None, dict[str, dict[str, bytes]]]:
    if slot not in IMAGE_NAMES or slot in _FIXED_IMAGES:
        allowed = ", ".join(sorted(IMAGE_NAMES - _FIXED_IMAGES))
        problems.append(f"{_field(slot)}: not an image that can be chosen per pass ({allowed})")
        return None, {}
    if not isinstance(raw, dict):
        problems.append(f"{_field(slot)}: must be a table with choice and choices")
        return None, {}
    problems.extend(
        f"{_field(slot, key)}: unknown key (expected {', '.join(_KEYS)})"
        for key in raw
        if key not in _KEYS
    )
    count = len(problems)
    template = _parse_template(slot, raw.get("choice"), reference_problem, problems)
    choices = _parse_choices(slot, raw.get("choices"), problems)
    fallback = raw.get("fallback")
    if fallback is not None and fallback not in choices:
        problems.append(f"{_field(slot, 'fallback')}: {fallback!r} is not one of the choices")
    files = {name: _choice_files(slot, name, image_set, problems) for name in choices}
    if template is None or len(problems) > count:
        return None, files
    return ImageChoice(slot, template, choices, fallback), files


def parse_image_choices(
    table: object,
    image_set: Mapping[str, bytes],
    *,
    reference_problem: Callable[[Reference], str | None],
    sample: Mapping[str, Any],
) -> tuple[ImageChoices | None, list[str]]:
    """The `[apple.images]` table (None when absent) checked against the `apple/images/`
    files: (choices or None, problems naming file and field). `reference_problem` says why
    a template may not read a value (the pass type's data rules); `sample` is the context of
    the load-time check render."""
    problems: list[str] = []
    if table is None:
        problems.extend(
            f"{_label(name)}: no [apple.images] table in {SOURCE} chooses from the image set"
            for name in sorted(image_set)
        )
        return None, problems
    if not isinstance(table, dict) or not table:
        return None, [f"{SOURCE}: apple.images: must be a table of images chosen per pass"]
    slots: list[ImageChoice] = []
    files_by_choice: dict[str, Mapping[str, Mapping[str, bytes]]] = {}
    used: set[str] = set()
    for slot, raw in table.items():
        choice, files = _parse_slot(slot, raw, image_set, reference_problem, problems)
        used.update(f"{name}{scale}.png" for name in files for scale in SCALES)
        if choice is not None:
            slots.append(choice)
            files_by_choice[slot] = MappingProxyType(
                {name: MappingProxyType(members) for name, members in files.items()}
            )
    problems.extend(
        f"{_label(name)}: no choice in {SOURCE} [apple.images] names it"
        for name in sorted(set(image_set) - used)
    )
    for choice in slots:  # the check render: the sample data must pick a listed image
        try:
            choice.choose(sample)
        except ImageChoiceError as exc:
            problems.append(f"{exc} (with the sample data)")
    if problems:
        return None, problems
    digests = {
        slot: MappingProxyType(
            {name: _choice_digest(slot, name, members) for name, members in choices.items()}
        )
        for slot, choices in files_by_choice.items()
    }
    return ImageChoices(
        tuple(slots), MappingProxyType(files_by_choice), MappingProxyType(digests)
    ), []


def declared_slots(table: object) -> set[str]:
    """The images an [apple.images] table chooses per pass, valid or not (so the checks
    against the style and the fixed files run even while a choice has problems)."""
    if not isinstance(table, dict):
        return set()
    return {slot for slot in table if slot in IMAGE_NAMES and slot not in _FIXED_IMAGES}


def chosen_slot_problems(
    style: str, static_images: Mapping[str, list[str]], chosen: set[str]
) -> list[str]:
    """Problems of the images chosen per pass (`chosen`, e.g. {"strip"}) with the pass style
    and the fixed images: a slot the style does not show, a slot also given a fixed file, an
    event ticket's strip beside a background. `static_images`: base name -> member names of
    the fixed images."""
    problems = [
        f"apple/{member}: {slot} is chosen per pass ({_field(slot)}); remove this file"
        for slot in sorted(chosen)
        for member in sorted(static_images.get(slot, []))
    ]
    fixed_only = set(style_problems(style, static_images))
    problems.extend(
        f"{_field(slot)}: {reason}" if slot in chosen else f"apple/{slot}.png: {reason}"
        for slot, reason in style_problems(style, set(static_images) | chosen)
        if (slot, reason) not in fixed_only
    )
    return problems
