"""Process settings, read once from environment variables (12-factor) and checked at start-up.

Every setting is one `Settings` field declared with `setting(default, ENV_NAME, description)`:
the environment variable and the description are data on the field, so `load_settings()` reads
exactly the fields declared, and tests/unit/test_settings_doc.py keeps the operator's table in
docs/operations.md in step with them. A value that does not parse or is out of range raises
at start-up, naming the variable: a typo stops the process loudly, never falls back silently.

Adding a setting: one `setting(...)` field below, its check in `__post_init__` if it has a
range, and its line in docs/operations.md. Defaults work for `make run` and `make test`;
production deployments override them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from config.log_format import LOG_FORMATS
from config.redis_urls import parse_sentinel_url

CONFIG_DIR = Path(__file__).resolve().parent

T = TypeVar("T")


def setting(
    default: T,
    env: str,
    doc: str,
    *,
    secret: bool = False,
    clean: Callable[[str], str] | None = None,
) -> T:
    """A Settings field read from environment variable `env`. `secret`: never in repr (so never
    in a log line or a traceback); `clean`: normalises the raw text before it is parsed."""
    metadata = {"env": env, "doc": doc, "clean": clean}
    value: T = field(default=default, repr=not secret, metadata=metadata)
    return value


@dataclass(frozen=True)
class Settings:
    # Secure by default: local conveniences (demo tenant, Flower without auth, Swagger UI)
    # only where `make run` or the tests ask for them.
    environment: str = setting(
        "production",
        "PASSWIRE_ENV",
        "`local`, `test` or `production`; only local/test load the demo tenant, serve Swagger "
        "UI and let Flower run without auth (`make run` sets `local`)",
    )
    mongodb_uri: str = setting(
        "mongodb://127.0.0.1:27017/passwire",
        "MONGODB_URI",
        "MongoDB; the database is the URI's path (`passwire` if none)",
    )
    redis_url: str = setting(
        "redis://127.0.0.1:6379/0",
        "REDIS_URL",
        "Redis (rate limits, locks, readiness; the broker unless CELERY_BROKER_URL is set); "
        "`sentinel://host:26379,host:26379/<master set>/<db>` for a Sentinel-watched master",
    )
    # Empty in the environment: REDIS_URL (see load_settings).
    broker_url: str = setting(
        "redis://127.0.0.1:6379/0",
        "CELERY_BROKER_URL",
        "Celery broker; the same forms as REDIS_URL, `sentinel://` included",
    )
    redis_sentinel_password: str = setting(
        "",
        "REDIS_SENTINEL_PASSWORD",
        "password of the Redis Sentinels themselves (their `requirepass`), for `sentinel://` "
        "URLs; the master's password goes in the URL",
        secret=True,
    )
    broker_visibility_timeout: int = setting(
        3600,
        "CELERY_VISIBILITY_TIMEOUT",
        "seconds before an unacknowledged job is delivered again",
    )
    worker_prefetch_multiplier: int = setting(
        1,
        "CELERY_PREFETCH_MULTIPLIER",
        "jobs a worker process reserves ahead (1: long jobs never hold others back)",
    )
    task_time_limit: int = setting(
        900,
        "CELERY_TASK_TIME_LIMIT",
        "seconds a job may run before it is killed; at least 60, below the visibility timeout",
    )
    expiry_interval_s: int = setting(
        60,
        "PASSWIRE_EXPIRY_INTERVAL_S",
        "seconds between two runs of the expiry sweep (Celery beat)",
    )
    # The resend sweep (Celery beat): how often it runs, and how long a pass's push or Google
    # object must have been owed before it is resent (longer than the visibility timeout, so
    # Celery's own redelivery of a dead worker's job goes first).
    resend_interval_s: int = setting(
        300, "PASSWIRE_RESEND_INTERVAL_S", "seconds between two runs of the resend sweep"
    )
    stats_reconcile_interval_s: int = setting(
        600,
        "PASSWIRE_STATS_RECONCILE_INTERVAL_S",
        "seconds between two runs of the statistics reconcile sweep (Celery beat); a drift is "
        "repaired when two runs in a row see it",
    )
    resend_after_s: int = setting(
        3900,
        "PASSWIRE_RESEND_AFTER_S",
        "seconds a pass's Apple push or Google object must have been owed before the resend "
        "sweep resends it (keep it above CELERY_VISIBILITY_TIMEOUT)",
    )
    transient_retry_budget_s: int = setting(
        600,
        "PASSWIRE_TRANSIENT_RETRY_BUDGET_S",
        "seconds a job retries a dropped connection to Redis or MongoDB before giving up (a "
        "campaign job then leaves its campaign to the watchdog, another job fails)",
    )
    campaign_watchdog_interval_s: int = setting(
        30,
        "PASSWIRE_CAMPAIGN_WATCHDOG_INTERVAL_S",
        "seconds between two runs of the campaign watchdog (Celery beat)",
    )
    campaign_stall_s: int = setting(
        90,
        "PASSWIRE_CAMPAIGN_STALL_S",
        "seconds a campaign may make no progress before the watchdog re-sends its lost batches; "
        "also a running batch's lease (far below CELERY_VISIBILITY_TIMEOUT; "
        "docs/delivery-guarantees.md)",
    )
    log_level: str = setting(
        "INFO",
        "LOG_LEVEL",
        "log level of API and workers (every line carries `cid=<correlationId>`)",
        clean=str.upper,
    )
    log_format: str = setting(
        "text",
        "LOG_FORMAT",
        "`text` (the default) or `json`: one JSON object per line with correlationId, tenant "
        "and task, for every process (docs/operations.md, Logs)",
        clean=str.lower,
    )
    max_request_bytes: int = setting(
        64 * 1024, "PASSWIRE_MAX_REQUEST_BYTES", "larger request bodies get 413"
    )
    # An import's CSV (POST /api/{tenantId}/imports) has limits of its own.
    max_import_bytes: int = setting(
        8 * 1024 * 1024, "PASSWIRE_MAX_IMPORT_BYTES", "a larger import CSV gets 413"
    )
    max_import_rows: int = setting(
        100_000, "PASSWIRE_MAX_IMPORT_ROWS", "an import CSV with more rows gets 422"
    )
    tenants_dir: Path = setting(  # noqa: RUF009 - a Path is immutable
        CONFIG_DIR / "tenants", "PASSWIRE_TENANTS_DIR", "tenant configuration folder"
    )
    flower_basic_auth: str = setting(
        "",
        "FLOWER_BASIC_AUTH",
        "`user:password` for Flower; required outside local development",
        secret=True,
    )
    public_base_url: str = setting(
        "http://127.0.0.1:8000",
        "PASSWIRE_PUBLIC_URL",
        "the API's public base URL; Apple passes get `webServiceURL = {this}/apple/{tenantId}` "
        "(HTTPS in production)",
        clean=lambda raw: raw.rstrip("/"),
    )
    apns_host: str = setting(
        "api.push.apple.com",
        "APNS_HOST",
        "APNs host (`api.sandbox.push.apple.com` for development passes)",
    )
    apns_port: int = setting(443, "APNS_PORT", "APNs port")
    apns_ca_file: str = setting(
        "",
        "APNS_CA_FILE",
        "CA bundle that signed the APNs server certificate; empty: the system trust store",
    )
    google_api_base_url: str = setting(
        "https://walletobjects.googleapis.com",
        "GOOGLE_WALLET_API_URL",
        "Google Wallet REST base URL",
    )
    google_token_uri: str = setting(
        "",
        "GOOGLE_TOKEN_URI",
        "OAuth2 token endpoint for the service accounts; empty: each key file's `token_uri`",
    )
    google_save_url: str = setting(
        "https://pay.google.com/gp/v/save",
        "GOOGLE_SAVE_URL",
        "prefix of Save to Google Wallet links",
    )
    google_callback_keys_url: str = setting(
        "https://pay.google.com/gp/m/issuer/keys",
        "GOOGLE_CALLBACK_KEYS_URL",
        "Google's root keys for verifying callbacks",
    )
    apple_registration_rate: int = setting(
        120,
        "PASSWIRE_APPLE_REGISTRATION_RATE",
        "register/unregister calls per device per minute before 429",
    )
    apple_max_registrations_per_device: int = setting(
        500,
        "PASSWIRE_APPLE_MAX_REGISTRATIONS_PER_DEVICE",
        "registrations one device may hold before a new one gets 429",
    )
    apple_max_devices_per_pass: int = setting(
        20,
        "PASSWIRE_APPLE_MAX_DEVICES_PER_PASS",
        "devices one pass may be registered on before a new one gets 429 (each gets every "
        "push of the pass; re-registering one is always allowed)",
    )
    apple_pass_registration_rate: int = setting(
        240,
        "PASSWIRE_APPLE_PASS_REGISTRATION_RATE",
        "register/unregister calls per pass per minute before 429 (counted after the token check)",
    )
    apple_address_registration_rate: int = setting(
        1200,
        "PASSWIRE_APPLE_ADDRESS_REGISTRATION_RATE",
        "register/unregister calls per client address per minute before 429",
    )
    apple_address_log_rate: int = setting(
        120,
        "PASSWIRE_APPLE_ADDRESS_LOG_RATE",
        "Apple device `/v1/log` calls per client address per minute before 429",
    )
    trusted_proxy_hops: int = setting(
        0,
        "PASSWIRE_TRUSTED_PROXY_HOPS",
        "reverse proxies in front of the API whose X-Forwarded-For gives the client address "
        "(per-address rate limits); 0: the connecting peer is the client",
    )
    webhook_retry_base_s: float = setting(
        5.0,
        "PASSWIRE_WEBHOOK_RETRY_BASE_S",
        "base delay of the webhook retry schedule (base x 1, 6, 24, 120, 720 seconds)",
    )
    webhook_max_attempts: int = setting(
        8, "PASSWIRE_WEBHOOK_MAX_ATTEMPTS", "attempts of one webhook delivery before it fails"
    )
    campaign_batch_size: int = setting(
        500, "PASSWIRE_CAMPAIGN_BATCH_SIZE", "passes per campaign batch (1 to 5000)"
    )
    campaign_window: int = setting(
        4,
        "PASSWIRE_CAMPAIGN_WINDOW",
        "batches a campaign keeps queued ahead (1 to 1000; each batch enqueues the next when it "
        "starts, so the FIFO `bulk` queue interleaves tenants' campaigns)",
    )
    metrics_dir: str = setting(
        "",
        "PROMETHEUS_MULTIPROC_DIR",
        "directory where every API and worker process writes its metrics (read by "
        "prometheus_client itself; shared by all processes and the metrics server, emptied by "
        "the metrics server at start); empty: metrics off (docs/operations.md#metrics)",
    )
    metrics_port: int = setting(
        9464, "PASSWIRE_METRICS_PORT", "port of the metrics server (`/metrics`, never public)"
    )
    link_secret: str = setting(
        "",
        "PASSWIRE_LINK_SECRET",
        "≥ 32-character secret signing customer links to the download page; required in "
        "production (local/test use a development secret when it is empty)",
        secret=True,
    )
    attribution_window_h: int = setting(
        24,
        "PASSWIRE_ATTRIBUTION_WINDOW_H",
        "hours after a link click within which an install (Apple registration, Google save) "
        "is credited to that click's medium and tags (1 to 720)",
    )
    # The live channel per pass (workers/live_server.py, docs/api.md#live-channel).
    live_port: int = setting(
        8001, "PASSWIRE_LIVE_PORT", "port the live channel's WebSocket server listens on"
    )
    live_url: str = setting(
        "",
        "PASSWIRE_LIVE_URL",
        "public `ws://` or `wss://` base URL of the live channel server, as browsers reach it; "
        "empty: the live channel is off (`/connect` answers 503, the download page does not "
        "update itself)",
    )
    live_token_ttl_s: int = setting(
        300,
        "PASSWIRE_LIVE_TOKEN_TTL_S",
        "seconds a live channel token opens a connection (checked at the handshake only)",
    )
    live_max_connections: int = setting(
        20_000,
        "PASSWIRE_LIVE_MAX_CONNECTIONS",
        "open connections one live channel server process accepts; more are refused with 503",
    )

    # The SFTP drop (workers/sftp_server.py, docs/imports.md#sftp-drop).
    sftp_host: str = setting(
        "127.0.0.1", "PASSWIRE_SFTP_HOST", "address the SFTP drop listens on (`0.0.0.0`: all)"
    )
    sftp_port: int = setting(2222, "PASSWIRE_SFTP_PORT", "port of the SFTP drop")
    sftp_host_key: Path = setting(  # noqa: RUF009 - a Path is immutable
        Path("/var/lib/passwire/sftp-host-key/ssh_host_ed25519_key"),
        "PASSWIRE_SFTP_HOST_KEY",
        "the SFTP drop's private host key (OpenSSH format); `--create-host-key` makes an "
        "Ed25519 one there when it is missing",
    )
    sftp_data_dir: Path = setting(  # noqa: RUF009 - a Path is immutable
        Path("/var/lib/passwire/sftp"),
        "PASSWIRE_SFTP_DATA_DIR",
        "the tenants' SFTP folders (`<tenantId>/incoming`, `processed`, `rejected`), on the "
        "SFTP drop's host only (it writes the results too); keep it on persistent storage",
    )
    sftp_poll_s: float = setting(
        2.0,
        "PASSWIRE_SFTP_POLL_S",
        "seconds between two sweeps of the SFTP drop (results of ended imports written, "
        "uploads a failure left retried)",
    )

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"LOG_FORMAT must be text or json, got {self.log_format!r}")
        # Parsed for their errors only: a bad URL stops the process here, named.
        parse_sentinel_url(self.redis_url, "REDIS_URL")
        parse_sentinel_url(self.broker_url, "CELERY_BROKER_URL")
        if self.expiry_interval_s < 1:
            raise ValueError("PASSWIRE_EXPIRY_INTERVAL_S must be at least 1 second")
        if self.stats_reconcile_interval_s < 1:
            raise ValueError("PASSWIRE_STATS_RECONCILE_INTERVAL_S must be at least 1 second")
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
        if self.live_url and not self.live_url.startswith(("ws://", "wss://")):
            raise ValueError("PASSWIRE_LIVE_URL must start with ws:// or wss://")
        self._check_range("live_token_ttl_s", 1)
        self._check_range("live_max_connections", 1)
        self._check_range("apple_registration_rate", 1)
        self._check_range("apple_max_registrations_per_device", 1)
        self._check_range("apple_max_devices_per_pass", 1)
        self._check_range("apple_pass_registration_rate", 1)
        self._check_range("apple_address_registration_rate", 1)
        self._check_range("apple_address_log_rate", 1)
        self._check_range("trusted_proxy_hops", 0)
        self._check_range("webhook_max_attempts", 1)
        self._check_range("campaign_batch_size", 1, 5000)
        self._check_range("campaign_window", 1, 1000)
        self._check_range("sftp_port", 0, 65535)
        if not self.sftp_poll_s > 0:
            raise ValueError(f"PASSWIRE_SFTP_POLL_S must be above 0, got {self.sftp_poll_s}")
        self._check_range("attribution_window_h", 1, 720)
        # `not x > 0` rather than `x <= 0`: NaN is refused too.
        if not self.webhook_retry_base_s > 0:
            raise ValueError(
                f"PASSWIRE_WEBHOOK_RETRY_BASE_S must be above 0, got {self.webhook_retry_base_s}"
            )

    def _check_range(self, name: str, low: int, high: int | None = None) -> None:
        value = getattr(self, name)
        if value < low or (high is not None and value > high):
            env = next(item.metadata["env"] for item in fields(self) if item.name == name)
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"{env} must be {bounds}, got {value}")

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


def setting_fields() -> tuple[Field[Any], ...]:
    """Every setting, in declaration order: each names its variable (`metadata["env"]`) and
    says what it does (`metadata["doc"]`)."""
    return fields(Settings)


def env_names() -> dict[str, str]:
    """Environment variable name -> Settings field name, for every setting."""
    return {item.metadata["env"]: item.name for item in setting_fields()}


def _parse(item: Field[Any], raw: str) -> Any:
    env = item.metadata["env"]
    clean = item.metadata["clean"]
    text = clean(raw) if clean is not None else raw
    default = item.default
    if isinstance(default, bool):  # a bool is an int: refuse rather than parse "true" as one
        raise TypeError(f"{env}: boolean settings need a parser of their own")
    try:
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError as exc:
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ValueError(f"environment variable {env} must be {kind}, got {raw!r}") from exc
    if isinstance(default, Path):
        return Path(text)
    return text


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment (an unset or empty variable keeps the default);
    raises ValueError naming the variable when one is malformed or out of range."""
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in setting_fields():
        raw = source.get(item.metadata["env"], "").strip()
        if raw:
            values[item.name] = _parse(item, raw)
    # The broker is the Redis of REDIS_URL unless CELERY_BROKER_URL names another.
    values.setdefault("broker_url", values.get("redis_url", Settings.redis_url))
    return Settings(**values)
