"""Process settings, read once from environment variables (12-factor).

Every setting has a default that works for `make run` and `make test` on a developer machine;
production deployments override them (see the table in README.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CONFIG_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value != "" else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    # Secure by default: local conveniences (demo tenant, Flower without auth, Swagger UI)
    # only where `make run` or the tests ask for them.
    environment: str = "production"
    mongodb_uri: str = "mongodb://127.0.0.1:27017/passwire"
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "redis://127.0.0.1:6379/0"
    broker_visibility_timeout: int = 3600
    worker_prefetch_multiplier: int = 1
    task_time_limit: int = 900
    # Seconds between two runs of the expiry sweep (Celery beat).
    expiry_interval_s: int = 60
    # The resend sweep (Celery beat): how often it runs, and how long a pass's push or Google
    # object must have been owed before it is resent (longer than the visibility timeout, so
    # Celery's own redelivery of a dead worker's job goes first).
    resend_interval_s: int = 300
    resend_after_s: int = 3900
    # Transient infrastructure errors (Redis, MongoDB unreachable) are retried in the job for
    # this long before it gives up; a campaign job that gives up is resumed by the watchdog.
    transient_retry_budget_s: int = 600
    # The campaign watchdog (Celery beat, docs/delivery-guarantees.md): how often it runs, and
    # how long a running campaign may make no progress before its lost batches are re-sent
    # (also the lease a running batch holds and renews). Far below the visibility timeout.
    campaign_watchdog_interval_s: int = 30
    campaign_stall_s: int = 90
    log_level: str = "INFO"
    max_request_bytes: int = 64 * 1024
    # An import's CSV (POST /api/{tenantId}/imports) has limits of its own.
    max_import_bytes: int = 8 * 1024 * 1024
    max_import_rows: int = 100_000
    tenants_dir: Path = field(default=CONFIG_DIR / "tenants")
    flower_basic_auth: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    apns_host: str = "api.push.apple.com"
    apns_port: int = 443
    apns_ca_file: str = ""
    google_api_base_url: str = "https://walletobjects.googleapis.com"
    # Empty: the token_uri of each service-account key file (Google's).
    google_token_uri: str = ""
    google_save_url: str = "https://pay.google.com/gp/v/save"
    google_callback_keys_url: str = "https://pay.google.com/gp/m/issuer/keys"

    def __post_init__(self) -> None:
        if self.expiry_interval_s < 1:
            raise ValueError("PASSWIRE_EXPIRY_INTERVAL_S must be at least 1 second")
        if self.resend_interval_s < 1 or self.resend_after_s < 1:
            raise ValueError(
                "PASSWIRE_RESEND_INTERVAL_S and PASSWIRE_RESEND_AFTER_S must be at least 1 second"
            )
        if self.transient_retry_budget_s < 0:
            raise ValueError("PASSWIRE_TRANSIENT_RETRY_BUDGET_S must be at least 0")
        if self.campaign_watchdog_interval_s < 1 or self.campaign_stall_s < 1:
            raise ValueError(
                "PASSWIRE_CAMPAIGN_WATCHDOG_INTERVAL_S and PASSWIRE_CAMPAIGN_STALL_S must be at "
                "least 1 second"
            )
        if self.max_import_bytes < 1 or self.max_import_rows < 1:
            raise ValueError("PASSWIRE_MAX_IMPORT_BYTES and PASSWIRE_MAX_IMPORT_ROWS must be >= 1")
        if not 60 <= self.task_time_limit < self.broker_visibility_timeout:
            raise ValueError(
                "CELERY_TASK_TIME_LIMIT must be at least 60 s and below CELERY_VISIBILITY_TIMEOUT, "
                "or a running job would be delivered to a second worker"
            )

    @property
    def mongodb_database(self) -> str:
        """Database named in the URI path, `passwire` when the URI names none."""
        name = urlsplit(self.mongodb_uri).path.lstrip("/")
        return name or "passwire"

    def apple_web_service_url(self, tenant_id: str) -> str:
        """The webServiceURL written into every Apple pass of a tenant."""
        return f"{self.public_base_url}/apple/{tenant_id}"

    def google_callback_url(self, tenant_id: str) -> str:
        """Where Google posts save/delete callbacks for a tenant's classes."""
        return f"{self.public_base_url}/google/{tenant_id}/callbacks"

    @property
    def is_local(self) -> bool:
        return self.environment in {"local", "test"}


def load_settings() -> Settings:
    redis_url = _env("REDIS_URL", Settings.redis_url)
    return Settings(
        environment=_env("PASSWIRE_ENV", Settings.environment),
        mongodb_uri=_env("MONGODB_URI", Settings.mongodb_uri),
        redis_url=redis_url,
        broker_url=_env("CELERY_BROKER_URL", redis_url),
        broker_visibility_timeout=_env_int(
            "CELERY_VISIBILITY_TIMEOUT", Settings.broker_visibility_timeout
        ),
        worker_prefetch_multiplier=_env_int(
            "CELERY_PREFETCH_MULTIPLIER", Settings.worker_prefetch_multiplier
        ),
        task_time_limit=_env_int("CELERY_TASK_TIME_LIMIT", Settings.task_time_limit),
        expiry_interval_s=_env_int("PASSWIRE_EXPIRY_INTERVAL_S", Settings.expiry_interval_s),
        resend_interval_s=_env_int("PASSWIRE_RESEND_INTERVAL_S", Settings.resend_interval_s),
        resend_after_s=_env_int("PASSWIRE_RESEND_AFTER_S", Settings.resend_after_s),
        transient_retry_budget_s=_env_int(
            "PASSWIRE_TRANSIENT_RETRY_BUDGET_S", Settings.transient_retry_budget_s
        ),
        campaign_watchdog_interval_s=_env_int(
            "PASSWIRE_CAMPAIGN_WATCHDOG_INTERVAL_S", Settings.campaign_watchdog_interval_s
        ),
        campaign_stall_s=_env_int("PASSWIRE_CAMPAIGN_STALL_S", Settings.campaign_stall_s),
        log_level=_env("LOG_LEVEL", Settings.log_level).upper(),
        max_request_bytes=_env_int("PASSWIRE_MAX_REQUEST_BYTES", Settings.max_request_bytes),
        max_import_bytes=_env_int("PASSWIRE_MAX_IMPORT_BYTES", Settings.max_import_bytes),
        max_import_rows=_env_int("PASSWIRE_MAX_IMPORT_ROWS", Settings.max_import_rows),
        tenants_dir=Path(_env("PASSWIRE_TENANTS_DIR", str(CONFIG_DIR / "tenants"))),
        flower_basic_auth=_env("FLOWER_BASIC_AUTH", ""),
        public_base_url=_env("PASSWIRE_PUBLIC_URL", Settings.public_base_url).rstrip("/"),
        apns_host=_env("APNS_HOST", Settings.apns_host),
        apns_port=_env_int("APNS_PORT", Settings.apns_port),
        apns_ca_file=_env("APNS_CA_FILE", ""),
        google_api_base_url=_env("GOOGLE_WALLET_API_URL", Settings.google_api_base_url),
        google_token_uri=_env("GOOGLE_TOKEN_URI", ""),
        google_save_url=_env("GOOGLE_SAVE_URL", Settings.google_save_url),
        google_callback_keys_url=_env(
            "GOOGLE_CALLBACK_KEYS_URL", Settings.google_callback_keys_url
        ),
    )
