"""Draw the demo pass type's images: `python -m dev.demo_png` rewrites them.

Plain zlib + struct so the dev tools need no imaging library. Shapes are flat colours (a
coffee bean disc, layered strip) so the files stay a few KB even at @3x.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

Rgba = tuple[int, int, int, int]
ROOT = Path(__file__).resolve().parents[1]
DEMO_APPLE_DIR = ROOT / "config" / "tenants" / "demo" / "passtypes" / "loyalty" / "apple"

ESPRESSO: Rgba = (59, 36, 24, 255)
COFFEE: Rgba = (111, 71, 44, 255)
CREMA: Rgba = (196, 145, 94, 255)
FOAM: Rgba = (245, 232, 214, 255)
CLEAR: Rgba = (0, 0, 0, 0)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """An 8-bit RGBA PNG from `height` rows of `width * 4` bytes."""
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None) on every row
    if len(raw) != height * (width * 4 + 1):
        raise ValueError("rows do not match width and height")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def draw(width: int, height: int, pixel: Callable[[int, int], Rgba]) -> bytes:
    rows = (bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))
    return encode_png(width, height, rows)


def disc(size: int, colour: Rgba, ring: Rgba) -> bytes:
    """A filled circle with a lighter ring on a transparent square."""
    centre = (size - 1) / 2
    radius = size / 2

    def pixel(x: int, y: int) -> Rgba:
        distance = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
        if distance > radius:
            return CLEAR
        return ring if distance > radius * 0.8 else colour

    return draw(size, size, pixel)


def layers(width: int, height: int, bands: list[tuple[float, Rgba]]) -> bytes:
    """Horizontal bands; each (fraction of height, colour), top to bottom."""
    rows: list[bytes] = []
    for fraction, colour in bands:
        rows.extend([bytes(colour) * width] * round(fraction * height))
    rows = (rows + rows[-1:] * height)[:height]  # absorb rounding
    return encode_png(width, height, rows)


def demo_images() -> dict[str, bytes]:
    """Pass member name -> PNG bytes, at @1x, @2x and @3x (sizes in points times scale)."""
    images: dict[str, bytes] = {}
    for scale, suffix in ((1, ""), (2, "@2x"), (3, "@3x")):
        images[f"icon{suffix}.png"] = disc(38 * scale, COFFEE, CREMA)
        images[f"logo{suffix}.png"] = disc(50 * scale, FOAM, CREMA)
        images[f"strip{suffix}.png"] = layers(
            375 * scale, 144 * scale, [(0.45, ESPRESSO), (0.2, CREMA), (0.35, FOAM)]
        )
    return images


def main() -> None:
    DEMO_APPLE_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in demo_images().items():
        (DEMO_APPLE_DIR / name).write_bytes(data)
        print(f"wrote {DEMO_APPLE_DIR / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
