"""A pass type from its files, checked by the very loader that reads config/tenants/ at start-up.

The files are written out as a folder and loaded with `load_pass_type_folder`: one validator,
one set of messages, whether a template comes from disk or from the API. Its problems come
back per file ("apple/pass.json", "passtype.toml"), the reason naming the field.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path

from shared.apple.passtype import ApplePassTypeError
from shared.google.passtype import GooglePassTypeError
from shared.passtypes.archive import Problem, write_folder
from shared.tenancy.tenants import (
    PASS_TYPE_ID_PATTERN,
    PassType,
    Tenant,
    TenantConfigError,
    load_pass_type_folder,
)


class VersionInvalid(ValueError):
    """The files do not make a valid pass type; `problems` names each file and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.file}: {p.reason}" for p in problems))


def build_pass_type(
    tenant: Tenant,
    name: str,
    files: Mapping[str, bytes],
    *,
    version_id: str | None,
    into: Path,
) -> PassType:
    """Load `files` as pass type `name` of `tenant` from a folder written below `into` (kept:
    the pass type refers to it). Raises VersionInvalid."""
    if not PASS_TYPE_ID_PATTERN.fullmatch(name):
        reason = f"pass type name must match {PASS_TYPE_ID_PATTERN.pattern}"
        raise VersionInvalid([Problem("name", reason)])
    directory = into / name
    write_folder(files, directory)
    try:
        pass_type = load_pass_type_folder(directory, tenant)
    except TenantConfigError as exc:
        raise VersionInvalid(problems_of(exc, directory)) from None
    return dataclasses.replace(pass_type, version_id=version_id)


def check_pass_type(tenant: Tenant, name: str, files: Mapping[str, bytes]) -> PassType:
    """Validate `files` as a version of `name` (nothing kept on disk). Raises VersionInvalid."""
    with tempfile.TemporaryDirectory(prefix="passwire-check-") as scratch:
        return build_pass_type(tenant, name, files, version_id=None, into=Path(scratch))


def problems_of(exc: TenantConfigError, directory: Path) -> list[Problem]:
    """The loader's message as (file, reason) items, paths relative to the folder."""
    cause = exc.__cause__
    structured = isinstance(cause, ApplePassTypeError | GooglePassTypeError)
    items = list(cause.problems) if structured else [str(exc)]  # type: ignore[union-attr]
    problems: list[Problem] = []
    for item in items:
        text = item.replace(f"{directory}/", "").replace(str(directory), ".")
        file, _, reason = text.partition(": ")
        if not reason:
            file, reason = ".", text
        # passtype.toml problems come joined by "; "; a template's come one by one.
        parts = [reason] if structured else reason.split("; ")
        problems.extend(Problem(file, part) for part in parts)
    return problems
