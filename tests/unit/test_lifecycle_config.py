"""passtype.toml's `redeemable` and `[balance]`: defaults, and every mistake named at load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from shared.lifecycle.config import (
    BalanceConfig,
    LifecycleConfigError,
    is_redeemable,
    parse_balance,
)
from shared.lifecycle.currencies import CURRENCIES
from shared.tenancy.tenants import TenantConfigError, load_tenant

SOURCE = "passtype.toml"


def test_no_balance_table_keeps_no_balance() -> None:
    assert parse_balance(None, source=SOURCE) is None


def test_points_and_money_balances() -> None:
    assert parse_balance({"unit": "points"}, source=SOURCE) == BalanceConfig("points")
    money = parse_balance({"unit": "money", "currency": "EUR"}, source=SOURCE)
    assert money == BalanceConfig("money", "EUR", allow_negative=False)
    assert money is not None and money.minimum == 0
    overdraft = parse_balance({"unit": "points", "allow_negative": True}, source=SOURCE)
    assert overdraft is not None and overdraft.minimum is None


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"unit": "stars"}, "[balance].unit: must be 'points' or 'money'"),
        ({"unit": "money"}, "[balance].currency: is required for a money balance"),
        (
            {"unit": "money", "currency": "EUX"},
            "[balance].currency: 'EUX' is not an ISO 4217 currency code",
        ),
        (
            {"unit": "money", "currency": "eur"},
            "[balance].currency: 'eur' is not an ISO 4217 currency code",
        ),
        (
            {"unit": "points", "currency": "EUR"},
            "[balance].currency: only a money balance has a currency",
        ),
        (
            {"unit": "points", "allow_negative": "no"},
            "[balance].allow_negative: must be true or false",
        ),
        (
            {"unit": "points", "floor": 0},
            "[balance].floor: unknown key (expected unit, currency, allow_negative)",
        ),
        ("points", "[balance]: must be a table"),
    ],
)
def test_balance_mistakes_are_named(table: object, problem: str) -> None:
    with pytest.raises(LifecycleConfigError) as error:
        parse_balance(table, source=SOURCE)
    assert str(error.value) == f"{SOURCE}: {problem}"


def test_every_problem_at_once() -> None:
    with pytest.raises(LifecycleConfigError) as error:
        parse_balance({"unit": "stars", "allow_negative": 1, "x": 1}, source=SOURCE)
    assert str(error.value).count("[balance].") == 3


def test_currencies_in_use_are_known_and_others_are_not() -> None:
    assert {"EUR", "USD", "JPY", "GBP", "CHF", "BHD"} <= CURRENCIES
    assert not {"XXX", "XTS", "XAU", "EUX", "DEM"} & CURRENCIES
    assert all(len(code) == 3 and code.isupper() for code in CURRENCIES)


def test_coupons_and_tickets_are_redeemable_by_default() -> None:
    assert is_redeemable("coupon", None, source=SOURCE)
    assert is_redeemable("eventTicket", None, source=SOURCE)
    assert not is_redeemable("loyalty", None, source=SOURCE)
    assert is_redeemable("loyalty", True, source=SOURCE)
    assert not is_redeemable("coupon", False, source=SOURCE)
    with pytest.raises(LifecycleConfigError, match="redeemable: must be true or false"):
        is_redeemable("coupon", "yes", source=SOURCE)


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(CONFIG_DIR / "tenants" / "demo", target)
    return target


def test_a_pass_type_loads_its_lifecycle(demo_copy: Path) -> None:
    toml = demo_copy / "passtypes" / "loyalty" / "passtype.toml"
    # Top-level keys before the file's tables, the [balance] table after them.
    balance = '\n[balance]\nunit = "money"\ncurrency = "CHF"\n'
    toml.write_text("redeemable = true\n" + toml.read_text() + balance)
    loyalty = load_tenant(demo_copy).pass_types["loyalty"]
    assert loyalty.redeemable
    assert loyalty.balance == BalanceConfig("money", "CHF")


def test_a_bad_balance_stops_loading_with_file_and_key(demo_copy: Path) -> None:
    toml = demo_copy / "passtypes" / "loyalty" / "passtype.toml"
    toml.write_text(toml.read_text() + '\n[balance]\nunit = "money"\ncurrency = "EUX"\n')
    with pytest.raises(TenantConfigError) as error:
        load_tenant(demo_copy)
    assert str(toml) in str(error.value)
    assert "[balance].currency: 'EUX' is not an ISO 4217 currency code" in str(error.value)
