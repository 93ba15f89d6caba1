"""Product code makes Redis clients in one place, shared/infra/redis_clients.py, so every use
accepts a `sentinel://` URL: a client made anywhere else would reach one server only."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("api", "workers", "shared", "config")
FACTORY = ROOT / "shared" / "infra" / "redis_clients.py"
# Client constructors of redis-py: a pool made from a URL, a client, a Sentinel.
MAKES_A_CLIENT = re.compile(
    r"\b(?:Redis|StrictRedis|ConnectionPool)\.from_url\(|\bredis\.(?:Strict)?Redis\(|"
    r"\bSentinel\(|\bStrictRedis\("
)


def clients_made_outside_the_factory() -> list[str]:
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == FACTORY:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if MAKES_A_CLIENT.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_redis_clients_are_made_only_by_the_factory() -> None:
    assert clients_made_outside_the_factory() == []


def test_the_check_recognises_a_client_made_elsewhere() -> None:
    for line in ("redis.Redis.from_url(url)", "redis.Redis(host='h')", "Sentinel([('h', 1)])"):
        assert MAKES_A_CLIENT.search(line), line
    assert MAKES_A_CLIENT.search(FACTORY.read_text(encoding="utf-8"))
