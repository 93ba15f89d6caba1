"""Pass type versions as the API sees them: list, upload, read, activate.

The folder under config/tenants/<t>/passtypes/<name>/ is version 1 of its pass type until the
first upload: that upload stores the folder as version 1 (exactly its files) and itself as
version 2, so activating 1 rolls back to the very design the files gave. A pass type that
exists only through the API starts at version 1, active at once (nothing else could render
its passes). Any later version becomes active only when activated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.passtypes.archive import Problem, read_folder
from shared.passtypes.loading import VersionInvalid, check_pass_type
from shared.repositories import passtypes as repo
from shared.tenancy.tenants import PassType, Tenant

if TYPE_CHECKING:
    from pymongo.database import Database

FROM_FILES = "files"  # a version stored from the folder on disk
UPLOADED = "upload"


class UnknownPassType(LookupError):
    pass


class UnknownVersion(LookupError):
    pass


@dataclass(frozen=True)
class Summary:
    name: str
    active_version: int
    latest_version: int
    # "files": only the folder on disk (version 1); "stored": versions in MongoDB.
    source: str


def summaries(db: Database[Any], tenant: Tenant, base: Tenant) -> list[Summary]:
    """Every pass type of the tenant; `base` is the tenant as loaded from its files."""
    found: dict[str, Summary] = {
        name: Summary(name, 1, 1, FROM_FILES) for name in sorted(base.pass_types)
    }
    for name in repo.stored_names(db, tenant.id):
        summary = summary_of(db, tenant.id, name)
        if summary is not None:
            found[name] = summary
    return [found[name] for name in sorted(found)]


def summary_of(db: Database[Any], tenant_id: str, name: str) -> Summary | None:
    versions = repo.versions_of(db, tenant_id, name)
    if not versions:
        return None
    active = repo.active_of(db, tenant_id, name)
    number = int(active["number"]) if active else 0
    return Summary(name, number, int(versions[-1]["number"]), "stored")


def put_version(
    db: Database[Any],
    tenant: Tenant,
    base: Tenant,
    name: str,
    files: Mapping[str, bytes],
    *,
    now: datetime,
) -> dict[str, Any]:
    """Check `files` with the start-up loader, then store them as the next version (nothing
    is stored when they are invalid). Raises loading.VersionInvalid."""
    checked = check_pass_type(tenant, name, files)
    current = tenant.pass_types.get(name)
    if current is not None:
        problems = identity_problems(current, checked)
        if problems:
            raise VersionInvalid(problems)
    if not repo.versions_of(db, tenant.id, name):
        on_disk = base.pass_types.get(name)
        if on_disk is not None:
            first = repo.insert_version(
                db, tenant.id, name, read_folder(on_disk.directory), now=now, source=FROM_FILES
            )
            repo.activate(db, first, now=now)
    version = repo.insert_version(db, tenant.id, name, files, now=now, source=UPLOADED)
    if repo.active_of(db, tenant.id, name) is None:
        repo.activate(db, version, now=now)
    return version


def identity_problems(current: PassType, new: PassType) -> list[Problem]:
    """A version keeps the identities its passes are bound to: iPhones registered under the
    Apple passTypeIdentifier, objects at Google under the issuer's class."""
    problems = []
    if new.apple_pass_type_identifier != current.apple_pass_type_identifier:
        problems.append(
            Problem(
                "passtype.toml",
                f"apple.pass_type_identifier: must stay {current.apple_pass_type_identifier!r}: "
                "the passes and their registered devices are bound to it",
            )
        )
    old_class = current.google.class_id if current.google else None
    new_class = new.google.class_id if new.google else None
    if new_class != old_class:
        problems.append(
            Problem(
                "passtype.toml",
                f"google: the class must stay {old_class!r} (issuer_id, class_suffix): the "
                "passes' objects at Google belong to it",
            )
        )
    return problems


def files_of(
    db: Database[Any], base: Tenant, name: str, number: int | None
) -> tuple[int, dict[str, bytes]]:
    """(version number, files) of version `number` (None: the active one). Raises
    UnknownPassType / UnknownVersion."""
    if not repo.versions_of(db, base.id, name):
        on_disk = base.pass_types.get(name)
        if on_disk is None:
            raise UnknownPassType(name)
        if number not in (None, 1):
            raise UnknownVersion(str(number))
        return 1, read_folder(on_disk.directory)
    if number is None:
        active = repo.active_of(db, base.id, name)
        number = int(active["number"]) if active else 1
    version = repo.find_version(db, base.id, name, number)
    if version is None:
        raise UnknownVersion(str(number))
    return number, repo.files_of(db, version)


def activate(
    db: Database[Any], base: Tenant, name: str, number: int, *, now: datetime
) -> dict[str, Any]:
    """Make version `number` the one every process renders with from its next job. The
    folder on disk (version 1 before any upload) is stored first if it must be."""
    if not repo.versions_of(db, base.id, name):
        on_disk = base.pass_types.get(name)
        if on_disk is None:
            raise UnknownPassType(name)
        if number != 1:
            raise UnknownVersion(str(number))
        first = repo.insert_version(
            db, base.id, name, read_folder(on_disk.directory), now=now, source=FROM_FILES
        )
        repo.activate(db, first, now=now)
        return first
    version = repo.find_version(db, base.id, name, number)
    if version is None:
        raise UnknownVersion(str(number))
    repo.activate(db, version, now=now)
    return version
