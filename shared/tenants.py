"""Tenant configuration: tenants, their API keys and pass types, loaded from `config/tenants/`.

Layout: `<tenants_dir>/<tenantId>/tenant.toml` and
`<tenants_dir>/<tenantId>/passtypes/<passTypeId>/passtype.toml` (with the Apple template in
`apple/` beside it). Everything is validated when loaded, so a typo fails start-up with the
file and field named instead of failing a request.
"""

from __future__ import annotations

import os
import re
import tomllib
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
from shared.credentials.jwt_tokens import JwtConfig
from shared.credentials.scopes import ALL_SCOPES
from shared.providers.config import ProviderConfig, ProviderConfigError, parse_providers
from shared.self_service import SelfServiceConfig
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


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    api_keys: tuple[ApiKey, ...]
    pass_types: dict[str, PassType]
    local_only: bool = False
    apple_identities: IdentityStore = field(default_factory=lambda: IdentityStore({}))
    jwt: JwtConfig | None = None
    webhooks: tuple[WebhookEndpoint, ...] = ()
    self_service: SelfServiceConfig | None = None
    providers: tuple[ProviderConfig, ...] = ()


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
    jwt = fields.Nested(_JwtSchema, load_default=None)
    # Validated by the webhook config parser, which knows its rules.
    webhooks = fields.Raw(load_default=list)
    self_service = fields.Nested(_SelfServiceSchema, load_default=None)
    # Validated by the provider config parser (shared/providers/config.py).
    providers = fields.Raw(load_default=list)


class _PassTypeSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(PASS_KINDS))
    description = fields.String(required=True, validate=validate.Length(min=1, max=200))
    # Validated by the data declaration parser, which knows its rules.
    data = fields.Raw(load_default=dict)
    apple = fields.Nested(_ApplePassTypeSchema, load_default=None)


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
        pass_types[directory.name] = _load_pass_type(directory)
    return pass_types


def _load_pass_type(directory: Path) -> PassType:
    source = directory / "passtype.toml"
    data = _read_toml(source, _PassTypeSchema())
    try:
        declared = parse_declared_data(data["data"], source=str(source))
        has_template = (directory / "apple").is_dir()
        apple = load_apple_pass_type(directory, declared) if has_template else None
    except (DataDeclarationError, ApplePassTypeError) as exc:
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
    )


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


def load_tenant(tenant_dir: Path) -> Tenant:
    if not TENANT_ID_PATTERN.fullmatch(tenant_dir.name):
        raise TenantConfigError(
            f"{tenant_dir}: tenant folder name must match {TENANT_ID_PATTERN.pattern}"
        )
    data = _read_toml(tenant_dir / "tenant.toml", _TenantSchema())
    certificates = _certificate_refs(tenant_dir, data["apple_certificates"])
    try:
        webhooks = parse_webhooks(data["webhooks"], str(tenant_dir / "tenant.toml"))
    except WebhookConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    pass_types = _load_pass_types(tenant_dir)
    for pass_type in pass_types.values():
        identifier = pass_type.apple_pass_type_identifier
        if identifier is not None and identifier not in certificates:
            raise TenantConfigError(
                f"{pass_type.directory / 'passtype.toml'}: apple.pass_type_identifier "
                f"{identifier} has no [[apple_certificates]] entry in tenant.toml"
            )
    try:
        providers = parse_providers(
            data["providers"], str(tenant_dir / "tenant.toml"), known_pass_types=pass_types
        )
    except ProviderConfigError as exc:
        raise TenantConfigError(str(exc)) from exc
    return Tenant(
        id=tenant_dir.name,
        name=data["name"],
        api_keys=tuple(_api_key(key) for key in data["api_keys"]),
        pass_types=pass_types,
        local_only=data["local_only"],
        apple_identities=IdentityStore(certificates),
        jwt=_jwt_config(tenant_dir, data["jwt"]),
        webhooks=webhooks,
        self_service=_self_service(tenant_dir, data["self_service"], pass_types),
        providers=providers,
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


@dataclass(frozen=True)
class TenantRegistry:
    tenants: dict[str, Tenant]

    def get(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)


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
