"""Identifiers and secrets minted by passwire."""

from __future__ import annotations

import re
import secrets

# Apple serial numbers and passwire pass ids share this pattern.
PASS_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{5,50}")  # use with fullmatch


def new_pass_id() -> str:
    # 16 random bytes → 22 URL-safe characters: unguessable and within PASS_ID_PATTERN.
    return secrets.token_urlsafe(16)


def new_correlation_id() -> str:
    return secrets.token_hex(16)


def new_authentication_token() -> str:
    # Apple requires at least 16 characters; 24 random bytes give 32.
    return secrets.token_urlsafe(24)
