"""How each write moves the statistics counters, and what the sweep calls a drift: pure
functions, checked against what the passes collection would say."""

from __future__ import annotations

from typing import Any

import pytest

from shared.stats.counting import (
    ANY_PASS_TYPE,
    install_deltas,
    operation_pass_type,
    removal_deltas,
)
from shared.stats.reconcile import drift_between

IN = {"installedAt": "2026-03-01"}


def pass_in(*wallets: str) -> dict[str, Any]:
    return {"passType": "loyalty", "providers": {w: IN for w in wallets}}


@pytest.mark.parametrize(
    ("before", "wallet", "installed", "expected"),
    [
        (pass_in(), "apple", True, {"apple": 1, "active": 1}),
        (pass_in("google"), "apple", True, {"apple": 1}),  # active already
        (pass_in("apple"), "apple", False, {"apple": -1, "active": -1}),
        (pass_in("apple", "google"), "google", False, {"google": -1}),  # still in Apple
        (
            {"passType": "loyalty", "providers": {"apple": None}},
            "google",
            True,
            {"google": 1, "active": 1},
        ),
        ({"passType": "loyalty"}, "google", True, {"google": 1, "active": 1}),
    ],
)
def test_install_deltas(
    before: dict[str, Any], wallet: str, installed: bool, expected: dict[str, int]
) -> None:
    assert install_deltas(before, wallet, installed=installed) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (pass_in(), {"total": -1}),
        (pass_in("apple"), {"total": -1, "apple": -1, "active": -1}),
        (pass_in("apple", "google"), {"total": -1, "apple": -1, "google": -1, "active": -1}),
    ],
)
def test_removal_deltas(document: dict[str, Any], expected: dict[str, int]) -> None:
    assert removal_deltas(document) == expected


def test_drift_is_what_the_counters_miss() -> None:
    counted = {"total": 10, "active": 4, "apple": 3, "google": 2}
    assert drift_between(counted, counted) == {}
    assert drift_between(counted, {"total": 11, "active": 4, "apple": 0}) == {
        "total": -1,
        "apple": 3,
        "google": 2,
    }


def test_the_pass_type_of_an_operation() -> None:
    def of(intent: dict[str, Any]) -> str:
        return operation_pass_type(None, {"tenant": "demo", "intent": intent})

    assert of({"passType": "loyalty"}) == "loyalty"
    assert of({"segment": {"passTypes": ["coupon"]}}) == "coupon"
    assert of({"segment": {"passTypes": ["coupon", "loyalty"]}}) == ANY_PASS_TYPE
    assert of({"segment": {}}) == ANY_PASS_TYPE
    assert operation_pass_type(None, {"tenant": "demo"}) == ANY_PASS_TYPE
