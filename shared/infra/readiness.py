"""Reachability checks for the readiness probe: each returns None when fine, else the reason.
Warnings (a certificate near its end) leave the process ready and are reported beside."""

from __future__ import annotations

from datetime import datetime

import redis

from config.settings import Settings
from shared.apple.expiry import certificate_expiries, expiring
from shared.infra.db import ping
from shared.infra.redis_clients import process_client
from shared.tenancy.tenants import TenantRegistry

PROBE_TIMEOUT_S = 1.5


def check_redis(settings: Settings) -> str | None:
    # No retries: the probe answers within its timeout (a Sentinel URL: the master it names).
    client = process_client(
        settings.redis_url,
        timeout_s=PROBE_TIMEOUT_S,
        sentinel_password=settings.redis_sentinel_password,
        retries=0,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"unreachable ({type(exc).__name__})"
    return None


def check_apple_certificates(tenants: TenantRegistry) -> str | None:
    """Unreadable, expired or mismatched pass type certificates, named (no secrets)."""
    problems = [
        f"{tenant.id}: {problem}"
        for tenant in tenants.tenants.values()
        for problem in tenant.apple_identities.problems()
    ]
    return "; ".join(problems) or None


def apple_certificate_warnings(tenants: TenantRegistry, now: datetime) -> str | None:
    """Apple certificates within 30 days of their end, each with its date (ready still)."""
    soon = expiring(certificate_expiries(tenants.tenants.values()), now)
    return "; ".join(item.describe(now) for item in soon) or None


def check_google_credentials(tenants: TenantRegistry) -> str | None:
    """Unreadable or unusable Google service-account keys, named by tenant and issuer."""
    problems = [
        f"{tenant.id}: {problem}"
        for tenant in tenants.tenants.values()
        for problem in tenant.google_issuers.problems()
    ]
    return "; ".join(problems) or None


def check_mongodb(settings: Settings) -> str | None:
    try:
        ping(settings.mongodb_uri, PROBE_TIMEOUT_S)
    except Exception as exc:  # any driver error means "not ready"
        return f"unreachable ({type(exc).__name__})"
    return None
