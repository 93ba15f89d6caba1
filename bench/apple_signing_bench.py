"""Throughput of .pkpass building on one core, and why the signing key is loaded once.

    .venv/bin/python bench/apple_signing_bench.py --passes 2000 --runs 5

Uses throwaway test certificates (RSA-2048, like real Pass Type ID certificates).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cryptography

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dev/ is not installed

from dev import testing_certs
from shared.apple.certificates import (
    SigningIdentity,
    load_identity_from_pem_files,
    load_identity_from_pkcs12_file,
)
from shared.apple.manifest import manifest_from_digests, sha1_hex
from shared.apple.package import PassTypeAssets, build_pkpass
from shared.apple.signing import sign_manifest


def make_png(width: int, height: int, seed: int) -> bytes:
    """Gradient bands with 10 % noisy pixels: compresses like a real icon/logo (1-15 KB).
    Built with zlib + struct, no Pillow needed."""
    rng = random.Random(seed)
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            level = (x * 255 // width + y * 255 // height) // 2 & ~7
            if rng.random() < 0.1:
                level = rng.randrange(256)
            rows += bytes((level, level // 2, 255 - level, 255))  # RGBA

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(bytes(rows), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def asset_files() -> dict[str, bytes]:
    sizes = {
        "icon.png": (29, 29),
        "icon@2x.png": (58, 58),
        "icon@3x.png": (87, 87),
        "logo.png": (160, 50),
        "logo@2x.png": (320, 100),
    }
    files = {name: make_png(w, h, seed) for seed, (name, (w, h)) in enumerate(sizes.items())}
    for lang, text in (("en", "Member since"), ("fr", "Membre depuis")):
        files[f"{lang}.lproj/pass.strings"] = f'"since" = "{text}";\n'.encode("utf-16")
    return files


def pass_json(identity: SigningIdentity, serial: int) -> bytes:
    doc = {
        "formatVersion": 1,
        "passTypeIdentifier": identity.pass_type_identifier,
        "teamIdentifier": identity.team_identifier,
        "serialNumber": f"{serial:012d}",
        "authenticationToken": f"{serial:032x}",
        "webServiceURL": "https://passes.example.com/apple",
        "organizationName": "Example Demo",
        "description": "Loyalty card",
        "backgroundColor": "rgb(20, 40, 90)",
        "foregroundColor": "rgb(255, 255, 255)",
        "barcodes": [
            {"format": "PKBarcodeFormatQR", "message": f"M-{serial}", "messageEncoding": "utf-8"}
        ],
        "storeCard": {
            "primaryFields": [{"key": "points", "label": "Points", "value": serial % 5000}],
            "secondaryFields": [{"key": "name", "label": "Member", "value": "Ada Lovelace"}],
            "backFields": [{"key": "terms", "label": "Terms", "value": "Lorem ipsum " * 20}],
        },
    }
    return json.dumps(doc).encode()


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def load_costs(material: testing_certs.TestMaterial) -> tuple[SigningIdentity, float, float]:
    """Median seconds to load the identity from PEM files and from a PKCS#12 file."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = testing_certs.write_pem_files(material, tmp)
        p12 = Path(tmp) / "pass.p12"
        p12.write_bytes(testing_certs.to_pkcs12(material, b"bench"))

        def load_pem() -> SigningIdentity:
            return load_identity_from_pem_files(paths.certificate, paths.private_key, paths.wwdr)

        pem = median_seconds(load_pem, 30)
        pkcs12 = median_seconds(lambda: load_identity_from_pkcs12_file(p12, b"bench"), 10)
        return load_pem(), pem, pkcs12


def stage_costs(identity: SigningIdentity, assets: PassTypeAssets) -> dict[str, float]:
    """Median seconds of each per-pass stage, for one representative pass."""
    doc = pass_json(identity, 1)
    static = dict(assets.digests)

    def manifest() -> bytes:
        return manifest_from_digests(static | {"pass.json": sha1_hex(doc)})

    signed = manifest()
    costs = {
        "manifest (hash pass.json + JSON)": median_seconds(manifest, 500),
        "sign (PKCS#7, RSA-2048, SHA-256)": median_seconds(
            lambda: sign_manifest(signed, identity), 500
        ),
    }
    total = median_seconds(lambda: build_pkpass(doc, assets, identity), 500)
    costs["rest (pass.json check + zip)"] = total - sum(costs.values())
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--passes", type=int, default=2000, help="passes per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{os.cpu_count()} CPUs; single process, so figures are per core"
    )

    identity, pem_load, p12_load = load_costs(testing_certs.generate_material())
    files = asset_files()
    start = time.perf_counter()
    assets = PassTypeAssets.prepare(files)
    prepare = time.perf_counter() - start
    pngs = ", ".join(f"{n} {len(d)} B" for n, d in files.items() if n.endswith(".png"))
    total_kib = sum(map(len, files.values())) / 1024
    print(f"assets: {len(files)} files, {total_kib:.1f} KiB ({pngs})")
    print(f"assets hashed and zipped once in {prepare * 1e3:.2f} ms")

    documents = [pass_json(identity, i) for i in range(args.passes)]
    rates = []
    for run in range(1, args.runs + 1):
        start = time.perf_counter()
        for doc in documents:
            build_pkpass(doc, assets, identity)
        elapsed = time.perf_counter() - start
        rates.append(args.passes / elapsed)
        print(f"run {run}: {args.passes} passes in {elapsed:.3f} s = {rates[-1]:.0f} passes/s")

    rate = statistics.median(rates)
    per_pass = 1 / rate
    size_kib = len(build_pkpass(documents[0], assets, identity)) / 1024
    print(f"\nmedian: {rate:.0f} passes/s per core, {per_pass * 1e3:.3f} ms/pass")
    print(f"pkpass size {size_kib:.1f} KiB; per-pass stages:")
    for stage, seconds in stage_costs(identity, assets).items():
        print(f"  {stage:34} {seconds * 1e6:7.1f} us")
    print("key loading (why the identity is loaded once):")
    for label, seconds in (("PEM cert + key + WWDR", pem_load), ("PKCS#12", p12_load)):
        print(
            f"  {label:22} {seconds * 1e3:6.2f} ms = {seconds / per_pass:5.1f} passes' worth;"
            f" loading it per pass would cap one core at {1 / (per_pass + seconds):.0f} passes/s"
        )


if __name__ == "__main__":
    main()
