"""Small helpers shared by the APNs client tests."""

from __future__ import annotations


def token(n: int) -> str:
    """A well-formed device token (64 hex digits), distinct per ``n``."""
    return f"{n:064x}"
