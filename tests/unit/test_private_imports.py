"""Product code uses other libraries only through their public API.

A private module of another library (a dotted path with a segment starting with ``_``,
e.g. ``urllib3._collections``) or a private name imported from one ties the product to
internals that change without notice. ``hpack`` and ``h2`` are refused outright: the APNs
engine owns its HTTP/2 and HPACK tables (shared/clients/apns/), and both libraries are dev
dependencies only (the fake APNs server and the tests use them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("api", "workers", "shared", "config")
FIRST_PARTY = frozenset({*PRODUCT, "dev", "tests", "bench"})  # our own: private is fine
REFUSED = frozenset({"hpack", "h2"})


def foreign_private_imports(source: str) -> list[str]:
    """The imports in ``source`` that reach into another library's internals."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported = [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported = [(node.module, alias.name) for alias in node.names]
        else:
            continue  # relative imports are first-party
        for module, name in imported:
            segments = module.split(".")
            if segments[0] in FIRST_PARTY or module == "__future__":
                continue
            private_name = name.startswith("_") and not name.startswith("__")
            if segments[0] in REFUSED or any(s.startswith("_") for s in segments) or private_name:
                problems.append(f"line {node.lineno}: {module}" + (f" -> {name}" if name else ""))
    return problems


def test_product_imports_no_private_module_of_another_library() -> None:
    found = {
        str(path.relative_to(ROOT)): problems
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if (problems := foreign_private_imports(path.read_text(encoding="utf-8")))
    }
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        "from hpack.table import HeaderTable",
        "import h2.connection",
        "from hpack import Encoder",
        "import urllib3._collections",
        "from celery._state import get_current_app",
        "from requests.adapters import _helper",
    ],
)
def test_the_check_catches_reaching_into_internals(source: str) -> None:
    assert foreign_private_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "from shared.apple.passtype import _reference_problem",  # our own code
        "from . import _private",
        "import ssl, asyncio",
        "from importlib.metadata import version",
        "from pkg import __version__",
    ],
)
def test_the_check_allows_public_and_first_party_imports(source: str) -> None:
    assert foreign_private_imports(source) == []
