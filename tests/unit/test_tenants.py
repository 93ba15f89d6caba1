from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from shared.tenancy.tenants import TenantConfigError, load_registry
from tests.unit.google.helpers import ISSUER, write_google


def test_the_demo_tenant_ships_with_a_loyalty_pass_type() -> None:
    demo = load_registry(CONFIG_DIR / "tenants", include_local_only=True).get("demo")
    assert demo is not None
    assert demo.pass_types["loyalty"].kind == "loyalty"
    assert len(demo.api_keys) == 1


def _tenant(root: Path, tenant_toml: str, passtype_toml: str | None = None) -> Path:
    (root / "acme").mkdir()
    (root / "acme" / "tenant.toml").write_text(tenant_toml)
    if passtype_toml is not None:
        (root / "acme" / "passtypes" / "card").mkdir(parents=True)
        (root / "acme" / "passtypes" / "card" / "passtype.toml").write_text(passtype_toml)
    return root


def test_an_unknown_kind_names_file_and_field(tmp_path: Path) -> None:
    root = _tenant(tmp_path, 'name = "Acme"\n', 'kind = "spaceship"\ndescription = "x"\n')
    with pytest.raises(TenantConfigError, match=r"card/passtype.toml: kind: Must be one of"):
        load_registry(root, include_local_only=True)


def test_an_unknown_tenant_key_is_refused(tmp_path: Path) -> None:
    root = _tenant(tmp_path, 'name = "Acme"\ncolour = "red"\n')
    with pytest.raises(TenantConfigError, match=r"acme/tenant.toml: colour: Unknown field"):
        load_registry(root, include_local_only=True)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    root = _tenant(tmp_path, 'name = "Acme\n')
    with pytest.raises(TenantConfigError, match="invalid TOML"):
        load_registry(root, include_local_only=True)


def test_a_plaintext_key_is_refused(tmp_path: Path) -> None:
    root = _tenant(tmp_path, 'name = "Acme"\n[[api_keys]]\nname = "k"\nsha256 = "secret"\n')
    with pytest.raises(TenantConfigError, match=r"api_keys.0.sha256"):
        load_registry(root, include_local_only=True)


def test_the_demo_tenant_is_never_loaded_in_production() -> None:
    registry = load_registry(CONFIG_DIR / "tenants", include_local_only=False)
    assert registry.get("demo") is None


def test_two_tenants_sharing_a_jwt_secret_are_refused(tmp_path: Path) -> None:
    for tenant in ("acme", "bolt"):
        (tmp_path / tenant).mkdir()
        (tmp_path / tenant / "tenant.toml").write_text(
            f'name = "{tenant}"\n[jwt]\naudience = "x"\nhs256_secret_env = "SHARED_SECRET"\n'
        )
    with pytest.raises(TenantConfigError, match="share JWT key material"):
        load_registry(tmp_path, include_local_only=True)


# Google issuers and the Google side of pass types

GOOGLE_ISSUER_TOML = f"""
[[google_issuers]]
issuer_id = "{ISSUER}"
service_account_key = "keys/google.json"
"""


def _google_tenant(root: Path, *, google_toml: str | None = None) -> Path:
    """acme with a Google-only pass type `card` (the loyalty templates of tests/unit/google)."""
    if google_toml is None:
        google_toml = f'[google]\nissuer_id = "{ISSUER}"\n'
    passtype = (
        f'kind = "loyalty"\ndescription = "x"\n{google_toml}'
        '[data]\nidentifiers = ["crm"]\nmetadata = ["store", "tier", "link"]\n'
        'additionalData = ["points"]\nexternal = ["firstName"]\n'
        "[data.sample.additionalData]\npoints = 120\n"
    )
    root = _tenant(root, f'name = "Acme"\n{GOOGLE_ISSUER_TOML}', passtype)
    write_google(root / "acme" / "passtypes", name="card")
    return root


def test_the_demo_loyalty_card_has_a_google_side(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSWIRE_DEV_CERTS_DIR", raising=False)  # loading reads no key
    demo = load_registry(CONFIG_DIR / "tenants", include_local_only=True).get("demo")
    assert demo is not None
    google = demo.pass_types["loyalty"].google
    assert google is not None
    assert google.kind == "loyalty"
    assert google.class_id == "3388000000022222222.demo-loyalty"
    assert demo.google_issuers.issuer_ids() == ("3388000000022222222",)
    assert demo.google_issuers.ref("3388000000022222222").origins == (
        "http://127.0.0.1:8000",
        "http://localhost:8000",
    )
    (problem,) = demo.google_issuers.problems()
    assert problem.startswith("Google issuer 3388000000022222222: ")


def test_a_google_only_pass_type_loads_without_its_key(tmp_path: Path) -> None:
    tenant = load_registry(_google_tenant(tmp_path), include_local_only=True).get("acme")
    assert tenant is not None
    card = tenant.pass_types["card"]
    assert card.apple is None
    assert card.google is not None
    assert card.google.class_id == f"{ISSUER}.acme-card"
    assert tenant.google_issuers.ref(ISSUER).requests_per_second == 20
    assert "file is missing" in tenant.google_issuers.problems()[0]


def test_an_unknown_google_issuer_names_the_pass_type_file(tmp_path: Path) -> None:
    root = _google_tenant(tmp_path, google_toml='[google]\nissuer_id = "1234"\n')
    with pytest.raises(
        TenantConfigError,
        match=r"card/passtype.toml: google.issuer_id: issuer 1234 has no \[\[google_issuers\]\]",
    ):
        load_registry(root, include_local_only=True)


def test_a_google_folder_needs_a_google_table(tmp_path: Path) -> None:
    root = _google_tenant(tmp_path, google_toml="")
    with pytest.raises(TenantConfigError, match=r"a google/ folder and \[google\] go together"):
        load_registry(root, include_local_only=True)


def test_a_google_table_needs_a_google_folder(tmp_path: Path) -> None:
    root = _tenant(
        tmp_path,
        f'name = "Acme"\n{GOOGLE_ISSUER_TOML}',
        f'kind = "loyalty"\ndescription = "x"\n[google]\nissuer_id = "{ISSUER}"\n',
    )
    with pytest.raises(TenantConfigError, match=r"a google/ folder and \[google\] go together"):
        load_registry(root, include_local_only=True)


def test_an_invalid_google_template_names_file_and_field(tmp_path: Path) -> None:
    root = _google_tenant(tmp_path)
    object_json = root / "acme" / "passtypes" / "card" / "google" / "object.json"
    object_json.write_text(object_json.read_text().replace('"QR_CODE"', '"QR"'))
    with pytest.raises(TenantConfigError, match=r"google/object.json:8: barcode.type: must be"):
        load_registry(root, include_local_only=True)


def test_the_google_kind_follows_the_pass_kind(tmp_path: Path) -> None:
    root = _google_tenant(tmp_path)
    passtype = root / "acme" / "passtypes" / "card" / "passtype.toml"
    passtype.write_text(passtype.read_text().replace('kind = "loyalty"', 'kind = "coupon"'))
    # An offer class has no programName: the loyalty templates fail as an offer.
    with pytest.raises(TenantConfigError, match=r"programName: unknown key .*OfferClass"):
        load_registry(root, include_local_only=True)
    passtype.write_text(passtype.read_text().replace("[google]", '[google]\nkind = "loyalty"'))
    tenant = load_registry(root, include_local_only=True).get("acme")
    assert tenant is not None and tenant.pass_types["card"].google is not None


@pytest.mark.parametrize(
    ("issuer_toml", "field"),
    [
        (f"{GOOGLE_ISSUER_TOML}{GOOGLE_ISSUER_TOML}", "issuer_id: issuer .* configured twice"),
        ('[[google_issuers]]\nissuer_id = "12a"\nservice_account_key = "k"\n', "issuer_id"),
        ("[[google_issuers]]\nissuer_id = 1234\nservice_account_key = 'k'\n", "issuer_id"),
        (f'{GOOGLE_ISSUER_TOML}origins = ["http://example.com"]\n', "origins.0"),
        (f"{GOOGLE_ISSUER_TOML}requests_per_second = 0\n", "requests_per_second"),
        (f'[[google_issuers]]\nissuer_id = "{ISSUER}"\n', "service_account_key"),
    ],
)
def test_bad_google_issuers_are_named(tmp_path: Path, issuer_toml: str, field: str) -> None:
    root = _tenant(tmp_path, f'name = "Acme"\n{issuer_toml}')
    with pytest.raises(TenantConfigError, match=rf"acme/tenant.toml: google_issuers\.\d\.{field}"):
        load_registry(root, include_local_only=True)


def test_notification_policy_loads_with_pass_type_budgets(tmp_path: Path) -> None:
    tenant_toml = (
        'name = "Acme"\n[notifications]\ntime_zone = "Europe/Paris"\napple_alerts_per_day = 2\n'
        'quiet_hours = { start = "21:00", end = "08:00" }\n'
    )
    passtype_toml = (
        'kind = "generic"\ndescription = "x"\n[notifications]\napple_alerts_per_day = 6\n'
    )
    acme = load_registry(_tenant(tmp_path, tenant_toml, passtype_toml), include_local_only=True)
    policy = acme.tenants["acme"].notifications
    assert (policy.time_zone, policy.apple_limit("card"), policy.apple_limit("other")) == (
        "Europe/Paris",
        6,
        2,
    )
    assert policy.quiet_hours is not None and policy.quiet_hours.end.hour == 8


@pytest.mark.parametrize(
    ("tenant_toml", "passtype_toml", "where"),
    [
        ('[notifications]\nquiet_hours = { start = "22h" , end = "07:00" }\n', None,
         r"acme/tenant.toml: notifications.quiet_hours: start"),
        ('[notifications]\ntime_zone = "Paris"\n', None,
         r"acme/tenant.toml: notifications.time_zone"),
        ("", "[notifications]\napple_alerts_per_day = 1000\n",
         r"card/passtype.toml: notifications.apple_alerts_per_day"),
    ],
)  # fmt: skip
def test_a_bad_notification_policy_names_file_and_key(
    tmp_path: Path, tenant_toml: str, passtype_toml: str | None, where: str
) -> None:
    passtype = (
        None if passtype_toml is None else f'kind = "generic"\ndescription = "x"\n{passtype_toml}'
    )
    root = _tenant(tmp_path, f'name = "Acme"\n{tenant_toml}', passtype)
    with pytest.raises(TenantConfigError, match=where):
        load_registry(root, include_local_only=True)
