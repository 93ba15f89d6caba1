from __future__ import annotations

import struct
import zlib

import pytest

from dev.demo_png import DEMO_APPLE_DIR, demo_images, encode_png
from shared.apple.images import (
    MAX_POINTS,
    ImageError,
    image_problems,
    parse_image_name,
    png_size,
    style_problems,
)
from tests.unit.apple.helpers import make_png


def blank_png(width: int, height: int) -> bytes:
    """A transparent PNG: rows of zeros compress to almost nothing, so large sizes are cheap."""
    return encode_png(width, height, [bytes(width * 4)] * height)


def test_png_size_reads_ihdr() -> None:
    assert png_size(make_png(160, 50)) == (160, 50)
    assert png_size(encode_png(3, 2, [b"\x00" * 12] * 2)) == (3, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\x00" * 40, "not a PNG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "not a PNG"),
        (make_png(10, 10)[:20], "truncated"),
        (make_png(10, 10)[:12] + b"IDAT" + make_png(10, 10)[16:], "IHDR"),
        (make_png(10, 10)[:20] + b"\x07" + make_png(10, 10)[21:], "CRC"),
    ],
)
def test_png_size_rejects_bad_files(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        png_size(data)


def test_zero_size_png_is_refused() -> None:
    ihdr = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    with pytest.raises(ImageError, match="zero"):
        png_size(b"\x89PNG\r\n\x1a\n" + chunk)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("icon.png", ("icon", 1)),
        ("logo@2x.png", ("logo", 2)),
        ("strip@3x.png", ("strip", 3)),
        ("footer.png", ("footer", 1)),
        ("icon@4x.png", None),
        ("Icon.png", None),
        ("banner.png", None),
        ("icon.jpg", None),
    ],
)
def test_parse_image_name(name: str, parsed: tuple[str, int] | None) -> None:
    assert parse_image_name(name) == parsed


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("base", sorted(MAX_POINTS))
def test_largest_allowed_size_passes_and_one_more_pixel_fails(base: str, scale: int) -> None:
    width, height = (points * scale for points in MAX_POINTS[base])
    name = f"{base}{'' if scale == 1 else f'@{scale}x'}.png"
    assert image_problems(name, blank_png(width, height)) == []
    (problem,) = image_problems(name, blank_png(width + 1, height))
    assert f"{width + 1}x{height} px is larger than the {width}x{height} px" in problem
    assert f"@{scale}x" in problem


def test_apple_point_sizes() -> None:
    assert MAX_POINTS == {
        "icon": (38, 38),
        "logo": (160, 50),
        "thumbnail": (90, 90),
        "strip": (375, 144),
        "background": (180, 220),
        "footer": (286, 15),
    }


def test_image_problems_name_the_reason() -> None:
    assert image_problems("logo.png", b"not a png") == [
        "not a PNG file (the PNG signature is missing)"
    ]
    assert "not one of Wallet's pass images" in image_problems("banner.png", make_png(1, 1))[0]


@pytest.mark.parametrize(
    ("style", "bases", "refused"),
    [
        ("storeCard", {"icon", "logo", "strip"}, []),
        ("storeCard", {"icon", "thumbnail", "background"}, ["background", "thumbnail"]),
        ("coupon", {"icon", "footer"}, ["footer"]),
        ("generic", {"icon", "thumbnail", "strip"}, ["strip"]),
        ("boardingPass", {"icon", "footer", "strip"}, ["strip"]),
        ("eventTicket", {"icon", "background", "thumbnail"}, []),
        ("eventTicket", {"icon", "strip"}, []),
        ("eventTicket", {"icon", "strip", "background", "thumbnail"}, ["background", "thumbnail"]),
    ],
)
def test_style_rules(style: str, bases: set[str], refused: list[str]) -> None:
    assert [base for base, _ in style_problems(style, bases)] == refused


def test_demo_images_are_the_generator_output_sizes() -> None:
    generated = demo_images()
    assert sorted(p.name for p in DEMO_APPLE_DIR.glob("*.png")) == sorted(generated)
    for name, data in generated.items():
        assert image_problems(name, data) == []
        assert png_size((DEMO_APPLE_DIR / name).read_bytes()) == png_size(data)
        assert len(data) < 4096  # flat colours keep the committed files small
