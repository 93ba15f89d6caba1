"""Google's OAuth2 JWT-bearer grant (RFC 7523) as service accounts use it.

A client signs an assertion ``{iss: client_email, scope, aud: token_uri, iat, exp}`` with
the service account's RSA key (header ``kid`` = ``private_key_id``) and posts it as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...`` to the token
endpoint, which answers an opaque bearer token valid for an hour.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dev.fake_google.errors import Reply

WALLET_SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
# google-auth puts Google's token endpoint in ``aud`` whatever token_uri says, so the fake
# accepts it next to its own URL.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_LIFETIME_S = 3600
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 300  # Google tolerates a few minutes of clock drift in iat
SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


class OAuthError(Exception):
    """An RFC 6749 error answer: 400 ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def reply(self) -> Reply:
        return Reply(400, {"error": self.error, "error_description": self.description})


@dataclass
class ServiceAccount:
    client_email: str
    public_keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # by private_key_id
    token_uri: str | None = None


class ServiceAccountRegistry:
    """The service accounts the fake knows, from their Google-format JSON key files."""

    def __init__(self) -> None:
        self._accounts: dict[str, ServiceAccount] = {}

    def add_document(self, document: Mapping[str, Any]) -> str:
        """Register a key file's content (several keys of one account accumulate)."""
        if document.get("type") != "service_account":
            raise ValueError("not a service account key file (type != service_account)")
        email = str(document["client_email"])
        private_key = serialization.load_pem_private_key(
            str(document["private_key"]).encode(), password=None
        )
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("service account keys are RSA")
        account = self._accounts.setdefault(email, ServiceAccount(email))
        account.public_keys[str(document["private_key_id"])] = private_key.public_key()
        account.token_uri = document.get("token_uri") or account.token_uri
        return email

    def add_file(self, path: Path | str) -> str:
        return self.add_document(json.loads(Path(path).read_text()))

    def get(self, email: str) -> ServiceAccount | None:
        return self._accounts.get(email)

    def emails(self) -> list[str]:
        return sorted(self._accounts)


@dataclass(frozen=True)
class Grant:
    client_email: str
    scopes: frozenset[str]


def _claims(assertion: str, account_keys: Iterable[rsa.RSAPublicKey]) -> dict[str, Any]:
    """The assertion's claims if one of the keys signed it (RS256 only)."""
    for key in account_keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key=key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as err:
            raise OAuthError("invalid_grant", f"Invalid JWT: {err}") from err
        return claims
    raise OAuthError("invalid_grant", "Invalid JWT Signature.")


def verify_assertion(
    assertion: str, registry: ServiceAccountRegistry, *, audiences: set[str], now: float
) -> Grant:
    """Check an assertion the way Google's token endpoint does; raises OAuthError."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as err:
        raise OAuthError("invalid_grant", "Invalid JWT: the assertion is malformed.") from err
    if header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", "Invalid JWT Signature.")
    account = registry.get(str(unverified.get("iss", "")))
    if account is None:
        raise OAuthError("invalid_grant", "Invalid grant: account not found")
    kid = header.get("kid")
    if kid is not None:
        keys = [account.public_keys[kid]] if kid in account.public_keys else []
    else:
        keys = list(account.public_keys.values())
    claims = _claims(assertion, keys)
    accepted = audiences | {GOOGLE_TOKEN_AUDIENCE}
    if account.token_uri:
        accepted.add(account.token_uri)
    if claims.get("aud") not in accepted:
        raise OAuthError(
            "invalid_grant",
            f"Invalid JWT: Failed audience check. The right audience is {sorted(audiences)[0]}",
        )
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise OAuthError("invalid_grant", SHORT_LIVED)
    if exp <= now or iat > now + CLOCK_SKEW_S or exp - iat > MAX_ASSERTION_LIFETIME_S:
        raise OAuthError("invalid_grant", SHORT_LIVED)
    scopes = frozenset(str(claims.get("scope") or "").split())
    if not scopes or any(not s.startswith("https://www.googleapis.com/auth/") for s in scopes):
        raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return Grant(account.client_email, scopes)


def parse_token_request(body: bytes) -> str:
    """The assertion of a form-encoded JWT-bearer token request; raises OAuthError."""
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    grant_type = form.get("grant_type", [""])[0]
    if grant_type != JWT_BEARER:
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    assertion = form.get("assertion", [""])[0]
    if not assertion:
        raise OAuthError("invalid_request", "Missing required parameter: assertion")
    return assertion


@dataclass(frozen=True)
class IssuedToken:
    client_email: str
    scopes: frozenset[str]
    expires_at: float  # on the fake's (shiftable) clock


class TokenStore:
    """Access tokens the fake issued, and to whom."""

    def __init__(self) -> None:
        self._tokens: dict[str, IssuedToken] = {}
        self.issued_by_email: dict[str, int] = {}

    def issue(self, grant: Grant, now: float) -> str:
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        self._tokens[token] = IssuedToken(
            grant.client_email, grant.scopes, now + ACCESS_TOKEN_LIFETIME_S
        )
        self.issued_by_email[grant.client_email] = (
            self.issued_by_email.get(grant.client_email, 0) + 1
        )
        return token

    def lookup(self, token: str, now: float) -> IssuedToken | None:
        """The token's grant, or None when unknown or expired."""
        issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= now:
            return None
        return issued

    def clear(self) -> None:
        self._tokens.clear()
        self.issued_by_email.clear()


def token_reply(token: str) -> Reply:
    return Reply(
        200,
        {"access_token": token, "expires_in": ACCESS_TOKEN_LIFETIME_S, "token_type": "Bearer"},
        {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
    )
