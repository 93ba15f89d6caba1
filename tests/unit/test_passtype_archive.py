"""Reading a zipped pass type folder: the layout as on disk, with or without an enclosing
folder, clutter skipped, anything else refused whole; the written zip depends on files only."""

from __future__ import annotations

import pytest

from shared.passtypes.archive import (
    MAX_FILES,
    ArchiveRefused,
    ArchiveTooLarge,
    read_zip,
    write_zip,
)
from tests.support.passtypes import raw_zip

FILES = {
    "passtype.toml": b'kind = "loyalty"\n',
    "apple/pass.json": b"{}",
    "apple/icon.png": b"\x89PNG",
    "apple/en.lproj/pass.strings": b'"a" = "b";',
    "google/class.json": b"{}",
}


def test_a_zip_round_trips_its_files() -> None:
    assert read_zip(write_zip(FILES)) == FILES
    assert write_zip(FILES) == write_zip(dict(reversed(FILES.items())))  # order-independent


def test_one_enclosing_folder_is_dropped() -> None:
    body = raw_zip([(f"loyalty/{path}", data) for path, data in FILES.items()])
    assert read_zip(body) == FILES


def test_clutter_and_folders_are_skipped() -> None:
    clutter = [
        ("apple/", b""),
        (".DS_Store", b"x"),
        ("apple/.icon.png.swp", b"x"),
        ("__MACOSX/apple/._icon.png", b"x"),
    ]
    assert read_zip(raw_zip([*FILES.items(), *clutter])) == FILES


def test_a_file_outside_the_layout_is_refused() -> None:
    with pytest.raises(ArchiveRefused) as refused:
        read_zip(raw_zip([*FILES.items(), ("notes.txt", b"x")]))
    assert [(p.file, p.reason.split(";")[0]) for p in refused.value.problems] == [
        ("notes.txt", "unexpected file")
    ]


def test_not_a_zip_and_an_empty_zip_are_refused() -> None:
    with pytest.raises(ArchiveRefused, match="not a zip file"):
        read_zip(b"definitely not a zip")
    with pytest.raises(ArchiveRefused, match=r"passtype\.toml: is required"):
        read_zip(raw_zip([]))


def test_too_many_entries_is_too_large() -> None:
    body = raw_zip([(f"apple/{index}.png", b"") for index in range(MAX_FILES + 1)])
    with pytest.raises(ArchiveTooLarge, match="entries"):
        read_zip(body)
