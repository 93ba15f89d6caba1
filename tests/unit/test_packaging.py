"""What ships: the wheel and the Docker build context hold the product (api, workers, shared,
config) and nothing of the dev harness, the tests or the benchmarks."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = {"api", "workers", "shared", "config"}
DEV_ONLY_NAMES = ("fake_", "testing_certs", "mongo_wire_server", "smtp_sink", "dev_certs")


def _copy_of_the_checkout(target: Path) -> Path:
    """The build runs in a copy, so it leaves no build/ or egg-info in the checkout."""
    skip = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__", ".*cache")
    shutil.copytree(ROOT, target, ignore=skip)
    return target


def test_the_wheel_holds_the_product_only(tmp_path: Path) -> None:
    source = _copy_of_the_checkout(tmp_path / "src")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("passwire-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert packages == PRODUCT
    assert "shared/clients/__init__.py" in names  # the product really is in it
    assert [name for name in names if any(part in name for part in DEV_ONLY_NAMES)] == []


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored_by_docker(path: str, patterns: list[str]) -> bool:
    """Docker's rule for these simple patterns: `**/x` matches x at any depth, `x` at the top
    (and a matched folder takes everything under it)."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts))):
            return True
    return False


def test_the_docker_build_context_leaves_the_dev_harness_out() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    patterns = _dockerignore_patterns()
    context = [path for path in tracked if not _ignored_by_docker(path, patterns)]
    assert any(path.startswith("shared/") for path in context)
    top_level = {path.split("/")[0] for path in context if "/" in path}
    assert top_level <= PRODUCT
    assert [path for path in context if any(part in path for part in DEV_ONLY_NAMES)] == []


def test_the_image_copies_the_product_packages_only() -> None:
    copied = [
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    assert {path for path in copied if path not in {"pyproject.toml", "README.md"}} == PRODUCT
