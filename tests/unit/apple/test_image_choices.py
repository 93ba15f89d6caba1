"""Per-pass images ([apple.images] in passtype.toml, apple/images/): checked at load, every
problem naming file and field; picked per pass; in the manifest and the content hash."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from shared.apple.issuing import content_hash
from shared.apple.manifest import sha1_hex
from shared.apple.passtype import (
    ApplePassType,
    ApplePassTypeError,
    DeclaredData,
    PassRenderError,
    load_apple_pass_type,
    sample_context,
)
from shared.tenancy.tenants import TenantConfigError, load_tenant
from tests.unit.apple.helpers import make_png
from tests.unit.apple.passtype_helpers import write_pass_type

DECLARED = DeclaredData(
    additional_data=("points",),
    samples=MappingProxyType({"additionalData": MappingProxyType({"points": 10})}),
)
DEMO_TENANT = Path(__file__).resolve().parents[3] / "config/tenants/demo"
CHOICE = "{% if pass.additionalData.points > 5 %}gold{% else %}bean{% endif %}"


def strip_set(name: str, size: tuple[int, int] = (375, 144)) -> dict[str, bytes]:
    """images/<name>.png at @1x, @2x and @3x, sized `size` points (distinct bytes per name)."""
    width, height = size
    offset = sum(map(ord, name)) % 10  # different sizes make different files per name
    return {
        f"images/{name}{suffix}.png": make_png(width * scale - offset, height * scale)
        for scale, suffix in ((1, ""), (2, "@2x"), (3, "@3x"))
    }


def load(
    tmp_path: Path,
    table: Any,
    images: dict[str, bytes] | None = None,
    *,
    static: dict[str, bytes] | None = None,
    declared: DeclaredData = DECLARED,
) -> ApplePassType:
    files = {**strip_set("bean"), **strip_set("gold")} if images is None else images
    base = {"icon.png": make_png(29, 29), **(static or {})}
    directory = write_pass_type(tmp_path, images=base, files=files)
    return load_apple_pass_type(directory, declared, table)


def problems_of(
    tmp_path: Path, table: Any, images: dict[str, bytes] | None = None, **kw: Any
) -> str:
    with pytest.raises(ApplePassTypeError) as raised:
        load(tmp_path, table, images, **kw)
    return "\n".join(raised.value.problems)


def strip_table(**overrides: Any) -> dict[str, Any]:
    return {"strip": {"choice": CHOICE, "choices": ["bean", "gold"], **overrides}}


def context(points: object) -> dict[str, Any]:
    sample = sample_context(DECLARED, "card")
    sample["pass"]["additionalData"] = {"points": points}
    return sample


def test_the_image_is_picked_by_the_data_and_shipped_in_the_manifest(tmp_path: Path) -> None:
    pass_type = load(tmp_path, strip_table())
    assert pass_type.choose_images(context(9)) == {"strip": "gold"}
    assert pass_type.choose_images(context(1)) == {"strip": "bean"}

    gold = pass_type.assets_for(False, {"strip": "gold"})
    bean = pass_type.assets_for(False, {"strip": "bean"})
    gold_file = (tmp_path / "card/apple/images/gold@2x.png").read_bytes()
    assert gold.digests["strip@2x.png"] == sha1_hex(gold_file)
    assert bean.digests["strip@2x.png"] != gold.digests["strip@2x.png"]
    assert gold.digests["icon.png"] == bean.digests["icon.png"]
    assert pass_type.assets_for(False, {"strip": "gold"}) is gold  # prepared once
    assert "strip.png" not in pass_type.assets.digests  # only passes that chose one

    # The content hash follows the chosen image; without images it is as it always was.
    choices = pass_type.image_choices
    assert choices is not None
    pass_json = b'{"a":1}'
    hashes = {
        content_hash(pass_json, None, choices.fingerprint({"strip": name}))
        for name in ("bean", "gold")
    }
    assert len(hashes) == 2
    assert content_hash(pass_json) == content_hash(pass_json, {}, "")


def test_an_unlisted_name_takes_the_fallback_or_fails_to_render(tmp_path: Path) -> None:
    table = {"strip": {"choice": "{{ pass.additionalData.points }}", "choices": ["bean", "gold"]}}
    named = {"strip": {**table["strip"], "fallback": "bean"}}
    pass_type = load(tmp_path / "b", named)
    assert pass_type.choose_images(context("gold")) == {"strip": "gold"}
    assert pass_type.choose_images(context(7)) == {"strip": "bean"}

    # Without a fallback the load check refuses a sample that names no choice...
    problems = problems_of(tmp_path / "c", table)
    assert "passtype.toml: apple.images.strip.choice: renders a name that is not one" in problems
    # ...and a pass whose data names none fails to render, naming the field, not the data.
    gold_sample = DeclaredData(
        additional_data=("points",),
        samples=MappingProxyType({"additionalData": MappingProxyType({"points": "gold"})}),
    )
    strict = load(tmp_path / "d", table, declared=gold_sample)
    with pytest.raises(PassRenderError, match=r"apple\.images\.strip\.choice: renders a name") as e:
        strict.choose_images(context("platinum"))
    assert "platinum" not in str(e.value)


def test_a_missing_density_names_the_file_and_the_field(tmp_path: Path) -> None:
    images = {**strip_set("bean"), **strip_set("gold")}
    del images["images/gold@2x.png"]
    problems = problems_of(tmp_path, strip_table(), images)
    assert (
        "apple/images/gold@2x.png: is missing (passtype.toml: apple.images.strip.choices "
        "lists 'gold'; each choice needs @1x, @2x and @3x)"
    ) in problems


def test_a_wrong_size_names_the_file_and_the_field(tmp_path: Path) -> None:
    images = {**strip_set("bean"), **strip_set("gold")}
    images["images/gold@3x.png"] = make_png(2000, 432)
    problems = problems_of(tmp_path, strip_table(), images)
    assert "apple/images/gold@3x.png: 2000x432 px is larger than the 1125x432 px" in problems
    assert "(passtype.toml: apple.images.strip)" in problems
    images["images/gold@3x.png"] = b"not a png"
    assert "apple/images/gold@3x.png: not a PNG file" in problems_of(
        tmp_path / "b", strip_table(), images
    )


def test_a_choice_reading_undeclared_data_is_refused(tmp_path: Path) -> None:
    table = strip_table(choice="{{ pass.metadata.secret | default: 'bean' }}")
    problems = problems_of(tmp_path, table)
    assert "passtype.toml: apple.images.strip.choice: references pass.metadata.secret" in problems


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (strip_table(fallback="silver"), "apple.images.strip.fallback: 'silver' is not one"),
        (strip_table(choices=[]), "apple.images.strip.choices: must be a non-empty array"),
        (strip_table(choices=["bean", "Gold!"]), "apple.images.strip.choices[1]: 'Gold!' is not"),
        (strip_table(colour="red"), "apple.images.strip.colour: unknown key"),
        ({"icon": strip_table()["strip"]}, "apple.images.icon: not an image that can be chosen"),
        (
            {"thumbnail": strip_table()["strip"]},  # (and the strips are too large for it)
            "apple.images.thumbnail: thumbnail images are not shown on storeCard passes",
        ),
    ],
)
def test_declaration_problems_name_the_field(tmp_path: Path, table: Any, expected: str) -> None:
    assert f"passtype.toml: {expected}" in problems_of(tmp_path, table)


def test_stray_and_clashing_files_are_named(tmp_path: Path) -> None:
    images = {**strip_set("bean"), **strip_set("gold"), "images/old.png": make_png(10, 10)}
    problems = problems_of(tmp_path, strip_table(), images, static={"strip.png": make_png(9, 9)})
    assert "apple/images/old.png: no choice in passtype.toml [apple.images] names it" in problems
    assert "apple/strip.png: strip is chosen per pass (passtype.toml: apple.images.strip)" in (
        problems
    )
    undeclared = problems_of(tmp_path / "b", None)
    assert "apple/images/bean.png: no [apple.images] table in passtype.toml" in undeclared


def test_the_demo_stamp_card_ships_every_count() -> None:
    demo = DEMO_TENANT
    stamps = load_tenant(demo).pass_types["stamps"].apple
    assert stamps is not None
    for count, expected in ((0, "stamps-0"), (3, "stamps-3"), (9, "stamps-5"), ("x", "stamps-0")):
        sample = sample_context(stamps.declared, "stamps")
        sample["pass"]["additionalData"] = {"stamps": count}
        assert stamps.choose_images(sample) == {"strip": expected}
    manifest_entry = stamps.assets_for(False, {"strip": "stamps-3"}).digests["strip.png"]
    image = demo / "passtypes/stamps/apple/images/stamps-3.png"
    assert manifest_entry == sha1_hex(image.read_bytes())


def test_a_broken_image_set_stops_the_tenant_loading(tmp_path: Path) -> None:
    shutil.copytree(DEMO_TENANT, tmp_path / "demo")
    stamps = tmp_path / "demo/passtypes/stamps"
    (stamps / "apple/images/stamps-4@2x.png").unlink()
    toml = stamps / "passtype.toml"
    toml.write_text(toml.read_text().replace('fallback = "stamps-0"', 'fallback = "stamps-9"'))
    with pytest.raises(TenantConfigError) as raised:
        load_tenant(tmp_path / "demo")
    message = str(raised.value)
    assert str(stamps) in message
    assert "apple/images/stamps-4@2x.png: is missing" in message
    assert "passtype.toml: apple.images.strip.fallback: 'stamps-9' is not one" in message
