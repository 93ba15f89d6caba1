"""The status rules of shared/lifecycle/transitions.py: which changes are allowed, which are
refused (409, naming the current status) and which are invalid whatever the pass (422)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.lifecycle.transitions import (
    ACTIVE,
    ALLOWED,
    BLOCKED,
    EXPIRED,
    KEEP,
    REDEEMED,
    STATUSES,
    VOIDED,
    Change,
    Invalid,
    PassState,
    Refused,
    plan_change,
    plan_redeem,
)

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
PAST = NOW - timedelta(days=1)
FUTURE = NOW + timedelta(days=1)

EXPECTED_ALLOWED = {
    (ACTIVE, REDEEMED),
    (ACTIVE, EXPIRED),
    (ACTIVE, BLOCKED),
    (ACTIVE, VOIDED),
    (BLOCKED, ACTIVE),
    (BLOCKED, VOIDED),
    (EXPIRED, ACTIVE),
    (EXPIRED, VOIDED),
    (REDEEMED, VOIDED),
}


def state(status: str, expiration: datetime | None = None) -> PassState:
    return PassState(status, expiration, status_changed_at=NOW - timedelta(hours=1))


@pytest.mark.parametrize("source", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_exactly_the_listed_transitions_are_allowed(source: str, target: str) -> None:
    if source == target:
        assert plan_change(state(source), status=target, now=NOW) is None  # nothing to do
        return
    if (source, target) in EXPECTED_ALLOWED:
        change = plan_change(state(source), status=target, now=NOW)
        assert change == Change(target, None, status_changed=True)
        return
    with pytest.raises(Refused) as refused:
        plan_change(state(source), status=target, now=NOW)
    assert refused.value.field == "status"
    assert refused.value.code == "invalid_transition"
    assert f"the pass is {source}" in refused.value.reason


def test_the_table_is_the_documented_one() -> None:
    listed = {(source, target) for source, targets in ALLOWED.items() for target in targets}
    assert listed == EXPECTED_ALLOWED


def test_a_voided_pass_never_changes_not_even_its_date() -> None:
    with pytest.raises(Refused) as refused:
        plan_change(state(VOIDED), status=None, expiration_date=FUTURE, now=NOW)
    assert refused.value.reason == "the pass is voided; a voided pass never changes"
    # Asking for what it already is stays harmless (PUT is idempotent).
    assert plan_change(state(VOIDED, PAST), status=VOIDED, expiration_date=PAST, now=NOW) is None


def test_a_refusal_names_what_the_current_status_allows() -> None:
    with pytest.raises(Refused) as refused:
        plan_change(state(REDEEMED), status=ACTIVE, now=NOW)
    assert refused.value.reason.endswith("from redeemed it may become voided")
    assert "since 2030-06-01T11:00:00+00:00" in refused.value.reason


def test_expired_becomes_active_only_without_a_past_date() -> None:
    expired = state(EXPIRED, PAST)
    with pytest.raises(Refused) as kept_past:
        plan_change(expired, status=ACTIVE, now=NOW)
    assert kept_past.value.field == "expirationDate"
    with pytest.raises(Invalid) as given_past:
        plan_change(expired, status=ACTIVE, expiration_date=PAST - timedelta(days=1), now=NOW)
    assert given_past.value.field == "expirationDate"
    assert plan_change(expired, status=ACTIVE, expiration_date=FUTURE, now=NOW) == Change(
        ACTIVE, FUTURE, status_changed=True
    )
    assert plan_change(expired, status=ACTIVE, expiration_date=None, now=NOW) == Change(
        ACTIVE, None, status_changed=True
    )
    # Expired early by hand, its date still ahead: it may simply become active again.
    assert plan_change(state(EXPIRED, FUTURE), status=ACTIVE, now=NOW) == Change(
        ACTIVE, FUTURE, status_changed=True
    )


def test_the_date_alone_may_change_but_an_active_pass_keeps_it_ahead() -> None:
    assert plan_change(state(ACTIVE), status=None, expiration_date=FUTURE, now=NOW) == Change(
        ACTIVE, FUTURE, status_changed=False
    )
    assert plan_change(state(BLOCKED, FUTURE), status=None, expiration_date=None, now=NOW) == (
        Change(BLOCKED, None, status_changed=False)
    )
    with pytest.raises(Invalid):
        plan_change(state(ACTIVE), status=None, expiration_date=PAST, now=NOW)
    assert plan_change(state(ACTIVE, FUTURE), status=None, expiration_date=KEEP, now=NOW) is None


def test_a_lapsed_active_pass_counts_as_expired() -> None:
    lapsed = state(ACTIVE, PAST)
    assert lapsed.effective_status(NOW) == EXPIRED
    # What the sweep would do, done early.
    assert plan_change(lapsed, status=EXPIRED, now=NOW) == Change(
        EXPIRED, PAST, status_changed=True
    )
    assert plan_change(lapsed, status=VOIDED, now=NOW) == Change(VOIDED, PAST, True)
    for target in (BLOCKED, REDEEMED):
        with pytest.raises(Refused):
            plan_change(lapsed, status=target, now=NOW)
    with pytest.raises(Refused) as redeem:
        plan_redeem(lapsed, NOW)
    assert redeem.value.reason.startswith("the pass is expired")


def test_only_an_active_pass_is_redeemed_and_only_once() -> None:
    assert plan_redeem(state(ACTIVE, FUTURE), NOW) == Change(REDEEMED, FUTURE, True)
    with pytest.raises(Refused) as again:
        plan_redeem(state(REDEEMED), NOW)
    assert again.value.reason == "the pass is already redeemed since 2030-06-01T11:00:00+00:00"
    for status in (BLOCKED, EXPIRED, VOIDED):
        with pytest.raises(Refused):
            plan_redeem(state(status), NOW)


def test_a_pass_stored_without_a_status_is_active() -> None:
    legacy = PassState.of({"_id": "x"})
    assert legacy.status == ACTIVE and legacy.expiration_date is None
    assert plan_redeem(legacy, NOW).status == REDEEMED
