"""JWT bearer tokens a tenant's own systems mint: HS256 with a per-tenant secret, or RS256
checked against configured public keys. `exp` and `aud` are required; `scope` (space
separated) or `scp` (a list) says what the token may do; a `tenant` claim, when present,
must name the tenant of the request."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import jwt

from shared.credentials.api_keys import Principal
from shared.credentials.scopes import parse_scopes


class InvalidToken(Exception):
    """The bearer token is not acceptable; the message says why, without token contents."""


@dataclass(frozen=True)
class JwtConfig:
    audience: str
    hs256_secret_env: str | None = None
    rs256_public_key_files: tuple[Path, ...] = field(default_factory=tuple)

    def keys(self) -> list[tuple[str, str | bytes]]:
        keys: list[tuple[str, str | bytes]] = []
        if self.hs256_secret_env:
            secret = os.environ.get(self.hs256_secret_env)
            if secret:
                keys.append(("HS256", secret))
        keys.extend(("RS256", path.read_bytes()) for path in self.rs256_public_key_files)
        return keys


def verify_bearer(config: JwtConfig, tenant_id: str, token: str) -> Principal:
    keys = config.keys()
    if not keys:
        raise InvalidToken("this tenant accepts no bearer tokens")
    last_error = "signature does not verify"
    for algorithm, key in keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=config.audience,
                options={"require": ["exp", "aud"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is for another audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the {exc.claim} claim") from None
        except jwt.InvalidTokenError:
            continue  # maybe the next configured key signed it
        if claims.get("tenant", tenant_id) != tenant_id:
            raise InvalidToken("the token is for another tenant")
        scopes = parse_scopes(claims.get("scope")) | parse_scopes(claims.get("scp"))
        return Principal(
            tenant_id=tenant_id, scopes=scopes, credential=f"jwt:{claims.get('sub', '-')}"
        )
    raise InvalidToken(last_error)
