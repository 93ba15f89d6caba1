from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from shared.tenants import TenantConfigError, load_registry


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
