"""Tenant configuration: tenants, their API keys and pass types, loaded from `config/tenants/`.

Layout: `<tenants_dir>/<tenantId>/tenant.toml` and
`<tenants_dir>/<tenantId>/passtypes/<passTypeId>/passtype.toml` (with the Apple template in
`apple/` and the Google templates in `google/` beside it). Everything is validated when
loaded, so a typo fails start-up with the file and field named instead of failing a request.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.apple.identities import CertificateRef, IdentityStore
from shared.apple.passtype import (
    ApplePassType,
    ApplePassTypeError,
    DataDeclarationError,
    DeclaredData,
    load_apple_pass_type,
    parse_declared_data,
)
from shared.connectors.config import Connector, ConnectorConfigError, load_connectors
from shared.credentials.jwt_tokens import JwtConfig
from shared.credentials.scopes import ALL_SCOPES
from shared.email.config import EmailConfigError
from shared.email.tenant_email import TenantEmail, load_tenant_email
from shared.google.issuers import (
    DEFAULT_REQUESTS_PER_SECOND,
    ISSUER_ID_PATTERN,
    GoogleIssuerRef,
    GoogleIssuerStore,
    origin_problem,
)
from shared.google.object_json import GOOGLE_KINDS
from shared.google.passtype import (
    DEFAULT_GOOGLE_KIND,
    GOOGLE_FOLDER,
    RESOURCE_SUFFIX_PATTERN,
    GooglePassType,
    GooglePassTypeError,
    load_google_pass_type,
)
from shared.lifecycle.config import (
    BalanceConfig,
    LifecycleConfigError,
    is_redeemable,
    parse_balance,
)
from shared.notifications.config import (
    NotificationConfigError,
    NotificationPolicy,
    parse_pass_type_limit,
    parse_tenant_policy,
)
from shared.providers.config import ProviderConfig, ProviderConfigError, parse_providers
from shared.self_service import SelfServiceConfig
from shared.sftp.config import SftpConfig, SftpConfigError, parse_sftp
from shared.webhooks.config import WebhookConfigError, WebhookEndpoint, parse_webhooks

TENANT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")  # used with fullmatch
PASS_TYPE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
PASS_KINDS = (
    "loyalty",
    "coupon",
    "eventTicket",
    "giftCard",
    "membership",
    "generic",
    "boardingPass",
)


class TenantConfigError(Exception):
    """A tenant configuration file is missing or invalid; the message names file and field."""


@dataclass(frozen=True)
class ApiKey:
    """A key from tenant.toml (bootstrap keys; others are issued with `passwire keys`)."""

    name: str
    sha256: str
    scopes: frozenset[str] = ALL_SCOPES


@dataclass(frozen=True)
class PassType:
    id: str
    kind: str
    description: str
    directory: Path
    declared: DeclaredData
    # The Apple template and the certificate that signs it; None for a Google-only type.
    apple: ApplePassType | None = None
    apple_pass_type_identifier: str | None = None
    # The Google class and object templates and their issuer; None for an Apple-only type.
    google: GooglePassType | None = None
    # Lifecycle (shared/lifecycle/config.py): redeemable, and the balance passwire keeps.
    redeemable: bool = False
    balance: BalanceConfig | None = None
    # `[notifications] apple_alerts_per_day`: this type's own Apple budget (None: the tenant's).
    apple_alerts_per_day: int | None = None
    # The stored version this was loaded from (shared/passtypes/); None: the folder on disk.
    version_id: str | None = None


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    api_keys: tuple[ApiKey, ...]
    pass_types: dict[str, PassType]
    local_only: bool = False
    apple_identities: IdentityStore = field(default_factory=lambda: IdentityStore({}))
    google_issuers: GoogleIssuerStore = field(default_factory=lambda: GoogleIssuerStore({}))
    jwt: JwtConfig | None = None
    webhooks: tuple[WebhookEndpoint, ...] = ()
    self_service: SelfServiceConfig | None = None
    providers: tuple[ProviderConfig, ...] = ()
    # [smtp] and the email/ templates (shared/email/); None: the tenant sends no email.
    email: TenantEmail | None = None
    # [notifications]: time zone, Apple alert budget, quiet hours (shared/notifications/).
    notifications: NotificationPolicy = field(default_factory=NotificationPolicy)
    # (name, version id) -> that version of a pass type, set where stored versions are in use
    # (shared/passtypes/active.py); None: the folders on disk are the only versions.
    version_lookup: Callable[[str, str | None], PassType | None] | None = field(
        default=None, compare=False, repr=False
    )
    # [sftp]: its SFTP drop's keys and limits (shared/sftp/); None: the tenant has no drop.
    sftp: SftpConfig | None = None
    # connectors/*.toml (shared/connectors/); their [outbound] tables are among `webhooks`.
    connectors: tuple[Connector, ...] = ()

    def rendered_with(self, name: str, version_id: str | None) -> PassType | None:
        """The version of pass type `name` a stored rendering was made with (its images
        belong to its signed manifest); the current one when that version is unknown."""
        current = self.pass_types.get(name)
        if (current is not None and current.version_id == version_id) or not self.version_lookup:
            return current
        return self.version_lookup(name, version_id) or current


class _ApiKeySchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(sorted(ALL_SCOPES))), load_default=None
    )


class _JwtSchema(Schema):
    class Meta:
        unknown = RAISE

    audience = fields.String(required=True, validate=validate.Length(min=1, max=200))
    hs256_secret_env = fields.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9_]{0,63}$"))
    rs256_public_keys = fields.List(fields.String(), load_default=list)


_IDENTIFIER = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9.-]{1,127}$")


class _AppleCertificateSchema(Schema):
    class Meta:
        unknown = RAISE

    pass_type_identifier = fields.String(required=True, validate=_IDENTIFIER)
    certificate = fields.String()
    key = fields.String()
    key_password_env = fields.String()
    wwdr = fields.String()
    pkcs12 = fields.String()
    pkcs12_password_env = fields.String()


class _ApplePassTypeSchema(Schema):
    class Meta:
        unknown = RAISE

    pass_type_identifier = fields.String(required=True, validate=_IDENTIFIER)
    # Images chosen per pass: validated with the apple/ folder (shared/apple/image_choices.py).
    images = fields.Raw(load_default=None)


def _origin(value: str) -> None:
    if (reason := origin_problem(value)) is not None:
        raise ValidationError(f"{value!r} {reason}")


_ISSUER_ID = validate.Regexp(
    f"^{ISSUER_ID_PATTERN.pattern}$", error="must be a Google issuer id, 1-25 digits, quoted"
)


class _GoogleIssuerSchema(Schema):
    class Meta:
        unknown = RAISE

    issuer_id = fields.String(required=True, validate=_ISSUER_ID)
    service_account_key = fields.String(required=True, validate=validate.Length(min=1))
    origins = fields.List(fields.String(validate=_origin), load_default=list)
    requests_per_second = fields.Integer(
        strict=True, validate=validate.Range(1, 1000), load_default=DEFAULT_REQUESTS_PER_SECOND
    )


class _GooglePassTypeSchema(Schema):
    class Meta:
        unknown = RAISE

    issuer_id = fields.String(required=True, validate=_ISSUER_ID)
    kind = fields.String(validate=validate.OneOf(GOOGLE_KINDS), load_default=None)
    class_suffix = fields.String(
        validate=validate.Regexp(
            f"^{RESOURCE_SUFFIX_PATTERN.pattern}$",
            error="must be 1-100 letters, digits, '.', '_' or '-'",
        ),
        load_default=None,
    )


class _SelfServiceSchema(Schema):
    class Meta:
        unknown = RAISE

    pass_types = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    hmac_secret_env = fields.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9_]{0,63}$"))
    allowlist = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), load_default=dict
    )


class _TenantSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    # A tenant for local runs and tests only (the demo): never loaded in production.
    local_only = fields.Boolean(load_default=False)
    api_keys = fields.List(fields.Nested(_ApiKeySchema), load_default=list)
    apple_certificates = fields.List(fields.Nested(_AppleCertificateSchema), load_default=list)
    google_issuers = fields.List(fields.Nested(_GoogleIssuerSchema), load_default=list)
    jwt = fields.Nested(_JwtSchema, load_default=None)
    # Validated by the webhook config parser, which knows its rules.
    webhooks = fields.Raw(load_default=list)
    self_service = fields.Nested(_SelfServiceSchema, load_default=None)
    # Validated by the provider config parser (shared/providers/config.py).
    providers = fields.Raw(load_default=list)
    # Validated by the email config parser (shared/email/config.py).
    smtp = fields.Raw(load_default=None)
    # Validated by the notification config parser (shared/notifications/config.py).
    notifications = fields.Raw(load_default=None)
    # Validated by the SFTP drop's config parser (shared/sftp/config.py).
    sftp = fields.Raw(load_default=None)


class _PassTypeSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(PASS_KINDS))
    description = fields.String(required=True, validate=validate.Length(min=1, max=200))
    # Validated by the data declaration parser, which knows its rules.
    data = fields.Raw(load_default=dict)
    apple = fields.Nested(_ApplePassTypeSchema, load_default=None)
    google = fields.Nested(_GooglePassTypeSchema, load_default=None)
    # Validated by the lifecycle config parser (shared/lifecycle/config.py).
    redeemable = fields.Raw(load_default=None)
    balance = fields.Raw(load_default=None)
    # Validated by the notification config parser (shared/notifications/config.py).
    notifications = fields.Raw(load_default=None)


def _read_toml(path: Path, schema: Schema) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TenantConfigError(f"{path}: file is missing") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TenantConfigError(f"{path}: invalid TOML: {exc}") from exc
    try:
        loaded: dict[str, Any] = schema.load(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {msgs}" for field, msgs in _flatten(exc.messages))
        raise TenantConfigError(f"{path}: {problems}") from exc
    return loaded


def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(messages, dict):
        out: list[tuple[str, str]] = []
        for key, value in messages.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, list):
        return [(prefix, " ".join(str(m) for m in messages))]
    return [(prefix, str(messages))]


def _load_pass_types(tenant_dir: Path) -> dict[str, PassType]:
    pass_types: dict[str, PassType] = {}
    root = tenant_dir / "passtypes"
    if not root.is_dir():
        return pass_types
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if not PASS_TYPE_ID_PATTERN.fullmatch(directory.name):
            raise TenantConfigError(
                f"{directory}: pass type folder name must match {PASS_TYPE_ID_PATTERN.pattern}"
            )
        pass_types[directory.name] = _load_pass_type(directory, tenant_id=tenant_dir.name)
    return pass_types


def _load_pass_type(directory: Path, *, tenant_id: str) -> PassType:
    source = directory / "passtype.toml"
    data = _read_toml(source, _PassTypeSchema())
    try:
        declared = parse_declared_data(data["data"], source=str(source))
        has_template = (directory / "apple").is_dir()
        image_choices = data["apple"]["images"] if data["apple"] else None
        apple = load_apple_pass_type(directory, declared, image_choices) if has_template else None
        redeemable = is_redeemable(data["kind"], data["redeemable"], source=str(source))
        balance = parse_balance(data["balance"], source=str(source))
        apple_alerts = parse_pass_type_limit(data["notifications"], str(source))
    except (
        DataDeclarationError,
        ApplePassTypeError,
        LifecycleConfigError,
        NotificationConfigError,
    ) as exc:
        raise TenantConfigError(str(exc)) from exc
    apple_identifier = data["apple"]["pass_type_identifier"] if data["apple"] else None
    if (apple is None) != (apple_identifier is None):
        raise TenantConfigError(
            f"{source}: an apple/ template and [apple] pass_type_identifier go together"
        )
    return PassType(
        id=directory.name,
        kind=data["kind"],
        description=data["description"],
        directory=directory,
        declared=declared,
        apple=apple,
        apple_pass_type_identifier=apple_identifier,
        google=_google_pass_type(directory, declared, data, tenant_id=tenant_id),
        redeemable=redeemable,
        balance=balance,
        apple_alerts_per_day=apple_alerts,
    )


def _google_pass_type(
    directory: Path, declared: DeclaredData, data: dict[str, Any], *, tenant_id: str
) -> GooglePassType | None:
    """The google/ templates and the [google] table: both or neither."""
    source = directory / "passtype.toml"
    settings = data["google"]
    if (settings is None) == (directory / GOOGLE_FOLDER).is_dir():
        raise TenantConfigError(f"{source}: a {GOOGLE_FOLDER}/ folder and [google] go together")
    if settings is None:
        return None
    try:
        return load_google_pass_type(
            directory,
            declared,
            tenant_id=tenant_id,
            pass_type_id=directory.name,
            issuer_id=settings["issuer_id"],
            kind=settings["kind"] or DEFAULT_GOOGLE_KIND[data["kind"]],
            class_suffix=settings["class_suffix"],
        )
    except GooglePassTypeError as exc:
        raise TenantConfigError(str(exc)) from exc


def _check_references(
    pass_type: PassType, certificates: Container[str], google_issuers: Container[str]
) -> None:
    """The certificate and the Google issuer a pass type names are the tenant's."""
    identifier = pass_type.apple_pass_type_identifier
    if identifier is not None and identifier not in certificates:
        raise TenantConfigError(
            f"{pass_type.directory / 'passtype.toml'}: apple.pass_type_identifier "
            f"{identifier} has no [[apple_certificates]] entry in tenant.toml"
        )
    google = pass_type.google
    if google is not None and google.issuer_id not in google_issuers:
        raise TenantConfigError(
            f"{pass_type.directory / 'passtype.toml'}: google.issuer_id: issuer "
            f"{google.issuer_id} has no [[google_issuers]] entry in tenant.toml"
        )


def load_pass_type_folder(directory: Path, tenant: Tenant) -> PassType:
    """A pass type folder checked exactly as at start-up, for a tenant already loaded (a
    stored version is written out to a folder and loaded by this). Raises TenantConfigError."""
    if not PASS_TYPE_ID_PATTERN.fullmatch(directory.name):
        raise TenantConfigError(
            f"{directory}: pass type name must match {PASS_TYPE_ID_PATTERN.pattern}"
        )
    pass_type = _load_pass_type(directory, tenant_id=tenant.id)
    _check_references(
        pass_type, tenant.apple_identities.pass_type_identifiers(), tenant.google_issuers
    )
    return pass_type


def _certificate_refs(tenant_dir: Path, entries: list[dict[str, Any]]) -> dict[str, CertificateRef]:
    refs: dict[str, CertificateRef] = {}
    for entry in entries:
        ref = CertificateRef(base_dir=tenant_dir, **entry)
        if ref.pass_type_identifier in refs:
            raise TenantConfigError(
                f"{tenant_dir / 'tenant.toml'}: two certificates for {ref.pass_type_identifier}"
            )
        refs[ref.pass_type_identifier] = ref
    return refs


def _google_issuer_refs(
    tenant_dir: Path, entries: list[dict[str, Any]]
) -> dict[str, GoogleIssuerRef]:
    refs: dict[str, GoogleIssuerRef] = {}
    for index, entry in enumerate(entries):
        ref = GoogleIssuerRef(
            issuer_id=entry["issuer_id"],
            base_dir=tenant_dir,
            service_account_key=entry["service_account_key"],
            origins=tuple(entry["origins"]),
            requests_per_second=entry["requests_per_second"],
        )
        if ref.issuer_id in refs:
            raise TenantConfigError(
                f"{tenant_dir / 'tenant.toml'}: google_issuers.{index}.issuer_id: "
                f"issuer {ref.issuer_id} is configured twice"
            )
        refs[ref.issuer_id] = ref
    return refs


def load_tenant(tenant_dir: Path) -> Tenant:
    if not TENANT_ID_PATTERN.fullmatch(tenant_dir.name):
        raise TenantConfigError(
            f"{tenant_dir}: tenant folder name must match {TENANT_ID_PATTERN.pattern}"
        )
    data = _read_toml(tenant_dir / "tenant.toml", _TenantSchema())
    certificates = _certificate_refs(tenant_dir, data["apple_certificates"])
    google_issuers = _google_issuer_refs(tenant_dir, data["google_issuers"])
    try:
        webhooks = parse_webhooks(data["webhooks"], str(tenant_dir / "tenant.toml"))
    except WebhookConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    try:
        connectors = load_connectors(tenant_dir)
    except ConnectorConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    for outbound in (c.outbound for c in connectors if c.outbound is not None):
        if any(endpoint.id == outbound.id for endpoint in webhooks):
            raise TenantConfigError(
                f"{tenant_dir / 'tenant.toml'}: webhooks: {outbound.id!r} "
                "is the id of a connector's [outbound]; rename it"
            )
        webhooks += (outbound,)
    pass_types = _load_pass_types(tenant_dir)
    for pass_type in pass_types.values():
        _check_references(pass_type, certificates, google_issuers)
    try:
        providers = parse_providers(
            data["providers"], str(tenant_dir / "tenant.toml"), known_pass_types=pass_types
        )
    except ProviderConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    try:
        policy = parse_tenant_policy(data["notifications"], str(tenant_dir / "tenant.toml"))
    except NotificationConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    by_type = {
        type_id: pass_type.apple_alerts_per_day
        for type_id, pass_type in pass_types.items()
        if pass_type.apple_alerts_per_day is not None
    }
    try:
        email = load_tenant_email(data["smtp"], tenant_dir, local_only=data["local_only"])
    except EmailConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    try:
        sftp = parse_sftp(data["sftp"], str(tenant_dir / "tenant.toml"))
    except SftpConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    return Tenant(
        id=tenant_dir.name,
        name=data["name"],
        api_keys=tuple(_api_key(key) for key in data["api_keys"]),
        pass_types=pass_types,
        local_only=data["local_only"],
        apple_identities=IdentityStore(certificates),
        google_issuers=GoogleIssuerStore(google_issuers),
        jwt=_jwt_config(tenant_dir, data["jwt"]),
        webhooks=webhooks,
        self_service=_self_service(tenant_dir, data["self_service"], pass_types),
        providers=providers,
        email=email,
        notifications=dataclasses.replace(policy, apple_alerts_by_pass_type=by_type),
        sftp=sftp,
        connectors=connectors,
    )


def _self_service(
    tenant_dir: Path, entry: dict[str, Any] | None, pass_types: dict[str, PassType]
) -> SelfServiceConfig | None:
    if entry is None:
        return None
    unknown = sorted(set(entry["pass_types"]) - set(pass_types))
    if unknown:
        raise TenantConfigError(
            f"{tenant_dir / 'tenant.toml'}: self_service.pass_types: unknown {unknown}"
        )
    return SelfServiceConfig(
        pass_types=frozenset(entry["pass_types"]),
        hmac_secret_env=entry.get("hmac_secret_env"),
        allowlist={key: frozenset(values) for key, values in entry["allowlist"].items()},
    )


def _api_key(entry: dict[str, Any]) -> ApiKey:
    scopes = entry.get("scopes")
    return ApiKey(
        name=entry["name"],
        sha256=entry["sha256"],
        scopes=ALL_SCOPES if scopes is None else frozenset(scopes),
    )


def _jwt_config(tenant_dir: Path, entry: dict[str, Any] | None) -> JwtConfig | None:
    if entry is None:
        return None
    return JwtConfig(
        audience=entry["audience"],
        hs256_secret_env=entry.get("hs256_secret_env"),
        rs256_public_key_files=tuple(
            tenant_dir / os.path.expandvars(path) for path in entry["rs256_public_keys"]
        ),
    )


# Gives a tenant loaded from files its active stored pass type versions.
TenantOverlay = Callable[[Tenant], Tenant]


@dataclass(frozen=True)
class TenantRegistry:
    tenants: dict[str, Tenant]
    # The active pass type versions (shared/passtypes/active.py); None: the files only.
    overlay: TenantOverlay | None = None

    def get(self, tenant_id: str) -> Tenant | None:
        tenant = self.tenants.get(tenant_id)
        if tenant is None or self.overlay is None:
            return tenant
        return self.overlay(tenant)

    def with_overlay(self, overlay: TenantOverlay) -> TenantRegistry:
        return dataclasses.replace(self, overlay=overlay)

    def pinned(self) -> TenantRegistry:
        """A view resolving each tenant's active versions once, on first use: a job (or a
        request) given it renders everything with the versions active when it began, even
        if another version is activated meanwhile."""
        overlay = self.overlay
        if overlay is None:
            return self
        seen: dict[str, Tenant] = {}

        def once(tenant: Tenant) -> Tenant:
            if tenant.id not in seen:
                seen[tenant.id] = overlay(tenant)
            return seen[tenant.id]

        return dataclasses.replace(self, overlay=once)


def load_registry(tenants_dir: Path, *, include_local_only: bool) -> TenantRegistry:
    """Every tenant below `tenants_dir`; local-only ones (the demo) only when asked for."""
    if not tenants_dir.is_dir():
        raise TenantConfigError(f"{tenants_dir}: tenants folder is missing")
    loaded = (load_tenant(path) for path in sorted(tenants_dir.iterdir()) if path.is_dir())
    tenants = {
        tenant.id: tenant for tenant in loaded if include_local_only or not tenant.local_only
    }
    _refuse_shared_jwt_keys(tenants_dir, tenants)
    return TenantRegistry(tenants=tenants)


def _refuse_shared_jwt_keys(tenants_dir: Path, tenants: dict[str, Tenant]) -> None:
    """A token signed with key material two tenants share would open both: refuse that."""
    owners: dict[str, str] = {}
    for tenant in tenants.values():
        if tenant.jwt is None:
            continue
        material = [f"env:{tenant.jwt.hs256_secret_env}"] if tenant.jwt.hs256_secret_env else []
        material += [f"file:{path.resolve()}" for path in tenant.jwt.rs256_public_key_files]
        for item in material:
            other = owners.setdefault(item, tenant.id)
            if other != tenant.id:
                raise TenantConfigError(
                    f"{tenants_dir}: tenants '{other}' and '{tenant.id}' share JWT key material "
                    f"({item.split(':', 1)[0]}); give each tenant its own"
                )
