"""The per-pass notification decision (shared/notifications/policy.py) and the policy it reads
(shared/notifications/config.py): consent, quiet hours in the holder's zone, budgets."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from shared.notifications import BUDGET, CONSENT, QUIET_HOURS
from shared.notifications.config import (
    NotificationConfigError,
    NotificationPolicy,
    QuietHours,
    parse_pass_type_limit,
    parse_quiet_hours,
    parse_tenant_policy,
)
from shared.notifications.counting import NotificationCounts
from shared.notifications.policy import BudgetState, Decision, Notice, decide, held_back, notice_of

NOON = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
NIGHT = QuietHours(start=time(22), end=time(7))
FRESH = BudgetState()


def a_pass(consent: bool | None = None, **metadata: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_id": "p1",
        "tenant": "demo",
        "passType": "loyalty",
        "metadata": metadata,
        "apple": {"passTypeIdentifier": "pass.x"},
        "google": {"objectId": "1.p1"},
        "googleHolder": "saved",  # saved in Google Wallet (a save callback came)
    }
    if consent is not None:
        at = datetime(2029, 1, 1, tzinfo=UTC)
        document["consent"] = {"marketing": {"granted": consent, "at": at, "source": "form"}}
    return document


MARKETING = Notice(kind="marketing")
TRANSACTIONAL = Notice(kind="transactional")


@pytest.mark.parametrize(
    ("consent", "alerts"),
    [(True, True), (False, False), (None, False)],
    ids=["granted", "refused", "never"],
)
def test_marketing_alerts_only_holders_who_granted_consent(
    consent: bool | None, alerts: bool
) -> None:
    made = decide(a_pass(consent), MARKETING, NotificationPolicy(), NOON, FRESH)
    assert (made.alert_apple, made.alert_google) == (alerts, alerts)
    assert made.suppressed_reason == (None if alerts else CONSENT)
    assert made.deferred_until is None  # silent now, never later


def test_transactional_messages_need_no_consent() -> None:
    made = decide(a_pass(False), TRANSACTIONAL, NotificationPolicy(), NOON, FRESH)
    assert made == Decision(True, True, None)


def test_a_spent_budget_silences_that_wallet_only() -> None:
    policy = NotificationPolicy(apple_alerts_per_day=3, apple_alerts_by_pass_type={"loyalty": 5})
    made = decide(a_pass(), TRANSACTIONAL, policy, NOON, BudgetState(apple_spent=3, google_spent=3))
    assert made == Decision(True, False, BUDGET)  # the pass type allows Apple 5, Google 3
    made = decide(a_pass(), TRANSACTIONAL, policy, NOON, BudgetState(apple_spent=5, google_spent=0))
    assert made == Decision(False, True, BUDGET)


def test_losing_the_race_for_the_last_alert_goes_silent() -> None:
    granted = Decision(True, True, None)
    assert held_back(granted, apple=True, google=True) is granted
    assert held_back(granted, apple=True, google=False) == Decision(True, False, BUDGET)


def test_quiet_hours_defer_to_the_window_end_in_the_holders_zone() -> None:
    policy = NotificationPolicy(time_zone="Europe/Paris", quiet_hours=NIGHT)
    # 22:00 UTC is 23:00 in Paris (winter): inside, until 07:00 Paris the next morning.
    late = datetime(2030, 1, 15, 22, 0, tzinfo=UTC)
    made = decide(a_pass(True), MARKETING, policy, late, FRESH)
    assert (made.alert_apple, made.alert_google, made.suppressed_reason) == (
        False,
        False,
        QUIET_HOURS,
    )
    assert made.deferred_until == datetime(2030, 1, 16, 6, 0, tzinfo=UTC)
    # The same instant is 17:00 in New York: the holder's own zone says it may alert now.
    made = decide(a_pass(True, timeZone="America/New_York"), MARKETING, policy, late, FRESH)
    assert made == Decision(True, True, None)
    # An unknown zone on the pass falls back to the tenant's.
    made = decide(a_pass(True, timeZone="Mars/Olympus"), MARKETING, policy, late, FRESH)
    assert made.deferred


def test_the_tenants_quiet_hours_hold_marketing_the_campaigns_hold_any_kind() -> None:
    policy = NotificationPolicy(quiet_hours=NIGHT)
    night = datetime(2030, 1, 15, 23, 30, tzinfo=UTC)
    assert decide(a_pass(True), MARKETING, policy, night, FRESH).deferred
    assert not decide(a_pass(), TRANSACTIONAL, policy, night, FRESH).deferred  # a gate change
    own = Notice(kind="transactional", quiet_hours=NIGHT, own_quiet_hours=True)
    assert decide(a_pass(), own, NotificationPolicy(), night, FRESH).deferred
    none = Notice(kind="marketing", quiet_hours=None, own_quiet_hours=True)  # "quietHours": null
    assert not decide(a_pass(True), none, policy, night, FRESH).deferred


def test_consent_is_checked_before_quiet_hours() -> None:
    policy = NotificationPolicy(quiet_hours=NIGHT)
    night = datetime(2030, 1, 15, 23, 30, tzinfo=UTC)
    made = decide(a_pass(False), MARKETING, policy, night, FRESH)
    assert (made.suppressed_reason, made.deferred) == (CONSENT, False)  # nothing to wait for


@pytest.mark.parametrize(
    ("local", "ends"),
    [
        ("21:59", None),
        ("22:00", "2030-01-16T07:00"),
        ("23:59", "2030-01-16T07:00"),
        ("00:30", "2030-01-15T07:00"),
        ("06:59", "2030-01-15T07:00"),
        ("07:00", None),  # the end is excluded
    ],
)
def test_a_window_past_midnight(local: str, ends: str | None) -> None:
    hour, minute = (int(x) for x in local.split(":"))
    now = datetime(2030, 1, 15, hour, minute, tzinfo=UTC)
    expected = None if ends is None else datetime.fromisoformat(ends).replace(tzinfo=UTC)
    assert NIGHT.ends_at(now, UTC) == expected  # type: ignore[arg-type]


def test_a_daytime_window() -> None:
    lunch = QuietHours(start=time(12), end=time(14))
    assert lunch.ends_at(NOON, UTC) == datetime(2030, 1, 15, 14, 0, tzinfo=UTC)  # type: ignore[arg-type]
    assert lunch.ends_at(datetime(2030, 1, 15, 14, 0, tzinfo=UTC), UTC) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"start": "25:00", "end": "07:00"}, "start: must be a time of day"),
        ({"start": "22:00"}, "end: must be a time of day"),
        ({"start": "22:00", "end": "7:00"}, "end: must be a time of day"),
        ({"start": "22:00", "end": "22:00"}, "end: must differ from start"),
        (
            {"start": "22:00", "end": "07:00", "timeZone": "Nowhere/Land"},
            "timeZone: 'Nowhere/Land'",
        ),
        ({"start": "22:00", "end": "07:00", "zone": "UTC"}, "zone: unknown field"),
        ("22:00-07:00", "must be an object"),
    ],
)
def test_malformed_quiet_hours_are_refused_naming_the_key(value: Any, problem: str) -> None:
    with pytest.raises(NotificationConfigError, match=problem):
        parse_quiet_hours(value)


def test_tenant_and_pass_type_policies_load_and_validate() -> None:
    raw = {
        "time_zone": "Europe/Paris",
        "apple_alerts_per_day": 2,
        "quiet_hours": {"start": "21:00", "end": "08:00"},
    }
    policy = parse_tenant_policy(raw, "tenant.toml")
    assert (policy.time_zone, policy.apple_limit("any")) == ("Europe/Paris", 2)
    assert policy.quiet_hours == QuietHours(time(21), time(8))
    assert parse_tenant_policy(None, "tenant.toml") == NotificationPolicy()
    assert parse_pass_type_limit({"apple_alerts_per_day": 5}, "passtype.toml") == 5
    for bad, where in (
        ({"time_zone": "Atlantis"}, "notifications.time_zone"),
        ({"apple_alerts_per_day": -1}, "notifications.apple_alerts_per_day"),
        ({"quiet_hours": {"start": "9", "end": "10:00"}}, "notifications.quiet_hours: start"),
        ({"quiet": 1}, "notifications.quiet: unknown field"),
    ):
        with pytest.raises(NotificationConfigError, match=f"tenant.toml: {where}"):
            parse_tenant_policy(bad, "tenant.toml")
    with pytest.raises(NotificationConfigError, match="apple_alerts_per_day: must be an integer"):
        parse_pass_type_limit({"apple_alerts_per_day": "5"}, "passtype.toml")


def test_a_campaign_operation_gives_its_notice() -> None:
    assert notice_of({"message": {"content": "x"}}) == Notice(kind="transactional")
    own = notice_of(
        {"message": {"kind": "marketing"}, "quietHours": {"start": "22:00", "end": "07:00"}}
    )
    assert (own.kind, own.quiet_hours, own.own_quiet_hours) == ("marketing", NIGHT, True)
    assert notice_of({"message": {}, "quietHours": None}).own_quiet_hours


def test_counters_by_reason_per_pass() -> None:
    counts = NotificationCounts()
    counts.add(a_pass(), Decision(False, False, CONSENT))
    counts.add(a_pass(), Decision(True, False, BUDGET))
    counts.add(a_pass(), Decision(False, False, QUIET_HOURS, deferred_until=NOON))
    counts.add(a_pass(), Decision(True, True, None))
    assert counts.as_counters() == {
        "suppressed.consent": 1,
        "suppressed.budget": 1,
        "suppressed.quietHours": 1,
        "apple.notificationSuppressed": 1,  # deferred alerts are not silent: they wait
        "deferred": 1,
    }


def test_an_object_nobody_saved_spends_no_google_alert() -> None:
    unsaved = {**a_pass(), "googleHolder": None}
    made = decide(unsaved, TRANSACTIONAL, NotificationPolicy(), NOON, FRESH)
    assert made == Decision(True, False, None)
    google_only = {**unsaved, "apple": None}  # nobody to hold back for want of consent
    assert decide(google_only, MARKETING, NotificationPolicy(), NOON, FRESH) == Decision(
        False, False, None
    )
