"""A pass type folder as files in memory: read from a zip upload, from disk, written as a zip.

The layout is the folder's, as under config/tenants/<t>/passtypes/<name>/: `passtype.toml`,
`apple/…`, `google/…`. An upload is refused whole, before anything is stored, when a member
could land outside the folder (`../`, an absolute path, a symlink) or the archive exceeds the
limits below (a zip bomb inflates long before any check on its content could run).
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Documented in docs/passtypes.md; over any of them the API answers 413.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the zip as sent
MAX_TOTAL_BYTES = 20 * 1024 * 1024  # all files once unpacked
MAX_FILE_BYTES = 5 * 1024 * 1024  # any one file unpacked
MAX_FILES = 200
TOP_LEVEL = ("passtype.toml", "apple", "google")
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Problem:
    file: str
    reason: str


class ArchiveRefused(ValueError):
    """The upload cannot be a pass type folder; `problems` names each file at fault."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.file}: {p.reason}" for p in problems))


class ArchiveTooLarge(ValueError):
    """The upload is over one of the limits; the message says which."""


def _is_clutter(parts: tuple[str, ...]) -> bool:
    # Editor and OS clutter (.DS_Store, __MACOSX/): the folder loader skips dot files too.
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link; send the file itself"
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute or Windows path; paths are relative to the pass type folder"
    if any(part in ("..", "") for part in name.rstrip("/").split("/")):
        return "leaves the pass type folder (.. or an empty path segment)"
    return None


def read_zip(data: bytes) -> dict[str, bytes]:
    """The files of a zipped pass type folder (path -> bytes), with or without one enclosing
    folder. Raises ArchiveTooLarge or ArchiveRefused; nothing is written anywhere."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ArchiveTooLarge(f"the zip is larger than {MAX_UPLOAD_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ArchiveRefused([Problem("(upload)", f"not a zip file: {exc}")]) from None
    if len(infos) > MAX_FILES:
        raise ArchiveTooLarge(f"the zip holds more than {MAX_FILES} entries")
    problems = [
        Problem(info.filename, reason)
        for info in infos
        if (reason := _member_problem(info)) is not None
    ]
    if problems:
        raise ArchiveRefused(problems)
    members = [
        info
        for info in infos
        if not info.is_dir() and not _is_clutter(PurePosixPath(info.filename).parts)
    ]
    for info in members:
        if info.file_size > MAX_FILE_BYTES:
            raise ArchiveTooLarge(f"{info.filename} is larger than {MAX_FILE_BYTES} bytes")
    if sum(info.file_size for info in members) > MAX_TOTAL_BYTES:
        raise ArchiveTooLarge(f"the files add up to more than {MAX_TOTAL_BYTES} bytes")
    files = _unpack(archive, members, _enclosing_folder([info.filename for info in members]))
    if not files:
        raise ArchiveRefused([Problem("passtype.toml", "is required (the zip is empty)")])
    return files


def _unpack(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], prefix: str
) -> dict[str, bytes]:
    problems: list[Problem] = []
    files: dict[str, bytes] = {}
    for info in members:
        path = info.filename[len(prefix) :]
        if path.split("/")[0] not in TOP_LEVEL:
            problems.append(
                Problem(
                    path,
                    "unexpected file; a pass type folder holds passtype.toml, apple/ and google/",
                )
            )
            continue
        try:
            # Read at most the declared size + 1: a lying header cannot inflate further.
            with archive.open(info) as member:
                content = member.read(MAX_FILE_BYTES + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            problems.append(Problem(path, f"cannot be unpacked: {exc}"))
            continue
        if len(content) > MAX_FILE_BYTES:
            raise ArchiveTooLarge(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        files[path] = content
    if problems:
        raise ArchiveRefused(problems)
    return files


def _enclosing_folder(names: list[str]) -> str:
    """ "loyalty/" when every member sits in one folder that is not the layout's own."""
    tops = {name.split("/")[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        top = next(iter(tops))
        if top not in TOP_LEVEL:
            return f"{top}/"
    return ""


def read_folder(directory: Path) -> dict[str, bytes]:
    """The files of a pass type folder on disk, as an upload would carry them."""
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not _is_clutter(relative.parts):
            files[relative.as_posix()] = path.read_bytes()
    return files


def write_folder(files: Mapping[str, bytes], directory: Path) -> None:
    """Write files (already checked: relative, inside the folder) below `directory`."""
    for path, data in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def write_zip(files: Mapping[str, bytes]) -> bytes:
    """The folder as a zip whose bytes depend only on the files (fixed dates, sorted)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE_TIME)
            info.compress_type = (
                zipfile.ZIP_STORED if path.endswith(".png") else zipfile.ZIP_DEFLATED
            )
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[path])
    return buffer.getvalue()
