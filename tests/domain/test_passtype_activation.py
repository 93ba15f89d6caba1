"""Activation without restart, per job: a job resolves the active versions once and keeps
them (a batch started before an activation finishes on its version, the next job takes the
new one); a pass is served with the images it was signed with; a new image alone re-signs.

Each test works on a tenant of its own (a copy of the demo tenant under a fresh id), so the
session's demo card is never redesigned under the other tests."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any

from config.settings import CONFIG_DIR, Settings
from shared.apple import issuing
from shared.apple.delivery import pkpass_for
from shared.infra.clock import utcnow
from shared.passes.apple_versions import changed_rendition
from shared.passes.jobs import JobContext
from shared.passtypes import versions
from shared.passtypes.active import StoredVersions
from shared.passtypes.archive import read_folder
from shared.tenancy.tenants import PassType, Tenant, TenantRegistry, load_registry
from tests.support.apple import check_manifest, unpack
from tests.support.passtypes import NEW_COLOUR, redesigned, solid_png

NAME = "loyalty"


class Studio:
    """A tenant of its own with the demo loyalty card as version 1 and a redesign as 2."""

    def __init__(self, db: Any, root: Path, *, ttl_s: float = 0, clock: Any = None) -> None:
        self.id = f"studio{secrets.token_hex(3)}"
        shutil.copytree(CONFIG_DIR / "tenants" / "demo", root / self.id)
        self.db = db
        self.stored = StoredVersions(lambda: db, ttl_s=ttl_s, **({"clock": clock} if clock else {}))
        self.registry: TenantRegistry = load_registry(root, include_local_only=True).with_overlay(
            self.stored
        )
        self.base = self.registry.tenants[self.id]
        self.files = read_folder(self.base.pass_types[NAME].directory)
        self.put(redesigned(self.files))  # version 2; the folder is stored as version 1

    def put(self, files: dict[str, bytes]) -> int:
        stored = versions.put_version(self.db, self.base, self.base, NAME, files, now=utcnow())
        return int(stored["number"])

    def activate(self, number: int) -> None:
        versions.activate(self.db, self.base, NAME, number, now=utcnow())

    def job(self) -> TenantRegistry:
        """What a worker hands one job (workers/tasks/context.py)."""
        return self.registry.pinned()


def _document(pass_id: str, points: int) -> dict[str, Any]:
    return {
        "_id": pass_id,
        "tenant": "studio",
        "passType": NAME,
        "authenticationToken": "a" * 32,
        "identifiers": {"crm": pass_id},
        "metadata": {},
        "additionalData": {"points": points},
    }


def _render(
    tenant: Tenant, document: dict[str, Any], url: str = "https://wallet.example/apple/studio"
) -> issuing.AppleRendition:
    """As a job renders it; `url`: the job's webServiceURL (Settings.apple_web_service_url)."""
    rendition = issuing.render(
        tenant,
        tenant.pass_types[NAME],
        document,
        web_service_url=url,
        external={},
        now=utcnow(),
    )
    assert rendition is not None
    return rendition


def _colour(rendition: issuing.AppleRendition) -> str:
    return str(json.loads(rendition.pass_json)["backgroundColor"])


def _version(job: TenantRegistry, tenant_id: str) -> PassType:
    tenant = job.get(tenant_id)
    assert tenant is not None
    return tenant.pass_types[NAME]


def test_a_batch_finishes_on_its_version_and_the_next_takes_the_new_one(
    db: Any, tmp_path: Path
) -> None:
    studio = Studio(db, tmp_path)
    first_batch = studio.job()  # a worker starts a batch: version 1 is active
    before = first_batch.get(studio.id)
    assert before is not None
    assert _version(first_batch, studio.id).version_id == f"{studio.id}/{NAME}/1"
    documents = [_document(f"PASS-{index:03d}", index) for index in range(3)]
    colours = [_colour(_render(before, documents[0]))]

    studio.activate(2)  # another worker process, or the API, activates version 2 mid-batch
    for document in documents[1:]:
        tenant = first_batch.get(studio.id)
        assert tenant is before  # resolved once per job: the same versions to its end
        colours.append(_colour(_render(tenant, document)))
    assert set(colours) == {"rgb(59, 36, 24)"}  # the whole batch on version 1

    next_batch = studio.job()
    after = next_batch.get(studio.id)
    assert after is not None
    assert _version(next_batch, studio.id).version_id == f"{studio.id}/{NAME}/2"
    assert {_colour(_render(after, document)) for document in documents} == {NEW_COLOUR}


def test_the_api_sees_an_activation_within_its_ttl(db: Any, tmp_path: Path) -> None:
    now = [1000.0]
    studio = Studio(db, tmp_path, ttl_s=1.0, clock=lambda: now[0])
    assert _version(studio.registry, studio.id).version_id == f"{studio.id}/{NAME}/1"
    studio.activate(2)
    now[0] += 0.5  # within the ttl: the active ids this process read are still used
    assert _version(studio.registry, studio.id).version_id == f"{studio.id}/{NAME}/1"
    now[0] += 0.6
    assert _version(studio.registry, studio.id).version_id == f"{studio.id}/{NAME}/2"
    studio.activate(1)
    studio.stored.forget(studio.id)  # the process that activated sees it at once
    assert _version(studio.registry, studio.id).version_id == f"{studio.id}/{NAME}/1"


def test_a_pass_is_served_with_the_images_it_was_signed_with(
    db: Any, tmp_path: Path, settings: Settings
) -> None:
    studio = Studio(db, tmp_path)
    old = studio.job().get(studio.id)
    assert old is not None
    document = _document("PASS-SERVED", 5)
    rendition = _render(old, document, settings.apple_web_service_url(studio.id))
    signed = issuing.sign(old, old.pass_types[NAME], rendition)
    document["apple"] = issuing.stored_form(rendition, signed, update_tag=1, last_modified=utcnow())

    studio.activate(2)  # new strip image; this pass is not re-rendered yet
    new = studio.job().get(studio.id)
    assert new is not None
    served = pkpass_for(new, document)
    assert served is not None
    files = unpack(served.body)
    check_manifest(files)  # the manifest matches the files served with it
    assert files["strip.png"] == studio.files["apple/strip.png"]

    # The pass is due for a re-render under version 2; an identical upload would not be.
    context = JobContext(db=db, tenants=studio.registry, settings=settings)
    assert changed_rendition(context, new, new.pass_types[NAME], document, now=utcnow())
    same = studio.put(studio.files)
    studio.activate(same)
    again = studio.job().get(studio.id)
    assert again is not None
    assert not changed_rendition(context, again, again.pass_types[NAME], document, now=utcnow())


def test_a_new_image_alone_re_signs_a_pass(db: Any, tmp_path: Path, settings: Settings) -> None:
    studio = Studio(db, tmp_path)
    old = studio.job().get(studio.id)
    assert old is not None
    document = _document("PASS-IMAGE", 7)
    rendition = _render(old, document, settings.apple_web_service_url(studio.id))
    signed = issuing.sign(old, old.pass_types[NAME], rendition)
    document["apple"] = issuing.stored_form(rendition, signed, update_tag=1, last_modified=utcnow())
    only_strip = {**studio.files, "apple/strip.png": solid_png(375, 144, (9, 9, 9, 255))}
    studio.activate(studio.put(only_strip))
    new = studio.job().get(studio.id)
    assert new is not None
    context = JobContext(db=db, tenants=studio.registry, settings=settings)
    changed = changed_rendition(context, new, new.pass_types[NAME], document, now=utcnow())
    assert changed is not None
    assert changed.pass_json == rendition.pass_json  # the same pass.json, other images
    assert changed.assets_hash != rendition.assets_hash
