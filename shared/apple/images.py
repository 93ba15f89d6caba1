"""Pass images: PNG header reading and Apple's size and per-style rules.

Sizes are Apple's recommended maximums in points (Wallet Developer Guide and the Human
Interface Guidelines); an image at `@2x`/`@3x` may be twice/three times as large. Wallet would
scale an oversize image, but it then looks blurred or cropped, so we refuse it at load time.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Maximum (width, height) in points.
MAX_POINTS: dict[str, tuple[int, int]] = {
    "icon": (38, 38),  # HIG: 38x38 pt; older guides said 29x29, which is within this
    "logo": (160, 50),
    "thumbnail": (90, 90),
    # 375x144 for coupons and store cards; event tickets recommend 375x98 (375x123 with a
    # square barcode). We enforce the largest, so none of those valid sizes is refused.
    "strip": (375, 144),
    "background": (180, 220),
    "footer": (286, 15),
}
IMAGE_NAMES = frozenset(MAX_POINTS)
REQUIRED_IMAGE = "icon.png"  # Wallet refuses a pass without an icon

# Images each style displays (Wallet Developer Guide, "Pass styles and images").
STYLE_IMAGES: dict[str, frozenset[str]] = {
    "boardingPass": frozenset({"icon", "logo", "footer"}),
    "coupon": frozenset({"icon", "logo", "strip"}),
    "eventTicket": frozenset({"icon", "logo", "strip", "background", "thumbnail"}),
    "generic": frozenset({"icon", "logo", "thumbnail"}),
    "storeCard": frozenset({"icon", "logo", "strip"}),
}
# On an event ticket a strip image excludes the background and thumbnail images.
_EVENT_TICKET_EXCLUSIVE = ("strip", frozenset({"background", "thumbnail"}))

_IMAGE_FILE = re.compile(r"^(?P<base>[a-z]+)(?:@(?P<scale>[23])x)?\.png$")


class ImageError(ValueError):
    """The bytes are not a PNG we can read the size of."""


def parse_image_name(name: str) -> tuple[str, int] | None:
    """`("logo", 2)` for "logo@2x.png"; None unless it names one of Apple's pass images."""
    match = _IMAGE_FILE.match(name)
    if not match or match["base"] not in IMAGE_NAMES:
        return None
    return match["base"], int(match["scale"] or 1)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which the PNG format requires to come first."""
    if not data.startswith(PNG_SIGNATURE):
        raise ImageError("not a PNG file (the PNG signature is missing)")
    header = data[8:33]  # length (4) + type (4) + IHDR data (13) + CRC (4)
    if len(header) < 25:
        raise ImageError("PNG file is truncated before the end of its IHDR chunk")
    length, kind = struct.unpack(">I4s", header[:8])
    if kind != b"IHDR" or length != 13:
        raise ImageError("PNG file does not start with a valid IHDR chunk")
    (crc,) = struct.unpack(">I", header[21:25])
    if zlib.crc32(header[4:21]) != crc:
        raise ImageError("PNG IHDR chunk is corrupt (CRC mismatch)")
    width, height = struct.unpack(">II", header[8:16])
    if width == 0 or height == 0:
        raise ImageError("PNG has a zero width or height")
    return width, height


def image_problems(name: str, data: bytes) -> list[str]:
    """Reasons `data` is not acceptable as the pass image file `name` (a bare file name)."""
    parsed = parse_image_name(name)
    if parsed is None:
        return [f"not one of Wallet's pass images ({', '.join(sorted(IMAGE_NAMES))})"]
    base, scale = parsed
    try:
        width, height = png_size(data)
    except ImageError as exc:
        return [str(exc)]
    max_w, max_h = (points * scale for points in MAX_POINTS[base])
    if width > max_w or height > max_h:
        return [
            f"{width}x{height} px is larger than the {max_w}x{max_h} px allowed for {base} "
            f"at @{scale}x ({MAX_POINTS[base][0]}x{MAX_POINTS[base][1]} pt)"
        ]
    return []


def style_problems(style: str, image_bases: Iterable[str]) -> list[tuple[str, str]]:
    """(base, reason) for each image (base name, e.g. "strip") that does not suit the style."""
    bases = set(image_bases)
    allowed = STYLE_IMAGES[style]
    listed = ", ".join(sorted(allowed))
    problems = [
        (base, f"{base} images are not shown on {style} passes (allowed: {listed})")
        for base in sorted(bases - allowed)
    ]
    strip, excluded = _EVENT_TICKET_EXCLUSIVE
    if style == "eventTicket" and strip in bases:
        problems.extend(
            (base, f"an eventTicket with a strip image cannot also have a {base} image")
            for base in sorted(bases & excluded)
        )
    return problems
