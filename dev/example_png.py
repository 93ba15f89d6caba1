"""Draw the images of the demo tenant's example pass types: `python -m dev.example_png`.

One example per pass style (config/tenants/demo/passtypes/, see docs/examples.md), each
with the images its style shows, at @1x, @2x and @3x, in flat colours so the files stay
small. The stamp card's strips (one per stamp count, chosen per pass) live in its image set,
apple/images/. Drawn with dev/demo_png.py's stdlib PNG encoder: no imaging library.
"""

from __future__ import annotations

from pathlib import Path

from dev.demo_png import Rgba, disc, draw, layers

PASSTYPES_DIR = Path(__file__).resolve().parents[1] / "config" / "tenants" / "demo" / "passtypes"
SCALES = ((1, ""), (2, "@2x"), (3, "@3x"))
STAMPS = 5  # the stamp card's strips show 0..5 stamps of 5

WHITE: Rgba = (255, 255, 255, 255)
COLOURS: dict[str, tuple[Rgba, Rgba]] = {  # example -> (main colour, accent)
    "coupon": ((200, 40, 50, 255), (255, 214, 102, 255)),
    "event": ((40, 30, 90, 255), (240, 90, 160, 255)),
    "boarding": ((10, 70, 140, 255), (120, 200, 255, 255)),
    "membership": ((20, 110, 80, 255), (200, 240, 210, 255)),
    "gift": ((90, 40, 120, 255), (250, 200, 80, 255)),
    "stamps": ((59, 36, 24, 255), (196, 145, 94, 255)),
}
# The images each example's style shows besides icon and logo, with their size in points.
EXTRA_IMAGES: dict[str, dict[str, tuple[int, int]]] = {
    "coupon": {"strip": (375, 144)},
    "event": {"thumbnail": (90, 90)},
    "boarding": {"footer": (286, 15)},
    "membership": {"thumbnail": (90, 90)},
    "gift": {"strip": (375, 144)},
    "stamps": {},  # its strip is chosen per pass from apple/images/
}


def stamp_strip(width: int, height: int, stamps: int, colours: tuple[Rgba, Rgba]) -> bytes:
    """A row of STAMPS circles on the main colour, the first `stamps` filled."""
    main, accent = colours
    step = width / STAMPS
    radius = min(step, height) * 0.35

    def pixel(x: int, y: int) -> Rgba:
        slot = min(int(x / step), STAMPS - 1)
        cx, cy = (slot + 0.5) * step, height / 2
        distance = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
        if distance <= radius and slot < stamps:
            return accent
        if radius * 0.85 <= distance <= radius:
            return WHITE  # the outline of an empty stamp
        return main

    return draw(width, height, pixel)


def example_images(name: str) -> dict[str, bytes]:
    """Pass member name (relative to apple/) -> PNG bytes for one example."""
    main, accent = COLOURS[name]
    images: dict[str, bytes] = {}
    for scale, suffix in SCALES:
        images[f"icon{suffix}.png"] = disc(38 * scale, main, accent)
        images[f"logo{suffix}.png"] = disc(50 * scale, accent, WHITE)
        for base, (width, height) in EXTRA_IMAGES[name].items():
            bands = [(0.6, main), (0.4, accent)] if base != "thumbnail" else [(1.0, accent)]
            images[f"{base}{suffix}.png"] = layers(width * scale, height * scale, bands)
        if name == "stamps":
            for count in range(STAMPS + 1):
                strip = stamp_strip(375 * scale, 144 * scale, count, COLOURS[name])
                images[f"images/stamps-{count}{suffix}.png"] = strip
    return images


def main() -> None:
    for name in COLOURS:
        apple = PASSTYPES_DIR / name / "apple"
        for member, data in example_images(name).items():
            path = apple / member
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
