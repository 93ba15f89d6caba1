"""The messages a pass keeps (shared/passes/messages.py): recorded once per campaign, newest
first, a bounded list; a campaign's patch carries its message to the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.passes import messages

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def operation(
    op_id: str, content: str = "Hello", message_kind: str | None = None, **extra: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {"content": content, "localizedContent": {"fr": "Bonjour"}}
    if message_kind is not None:
        message["kind"] = message_kind
    return {
        "_id": op_id,
        "intent": {"patch": {"metadata": {"tier": "gold"}}},
        "message": message,
        **extra,
    }


def test_a_campaign_patch_carries_its_message_under_its_correlation_id() -> None:
    patch = messages.campaign_patch(operation("op-1"))
    assert patch["metadata"] == {"tier": "gold"}
    assert messages.message_id(patch) == "op-1"
    assert patch[messages.PATCH_KEY]["localizedContent"] == {"fr": "Bonjour"}
    without = messages.campaign_patch({**operation("op-2"), "message": None})
    assert messages.message_id(without) is None
    assert messages.PATCH_KEY not in without


def test_messages_are_kept_newest_first_once_each_and_bounded() -> None:
    doc: dict[str, Any] = {"_id": "p"}
    for index in range(messages.KEPT + 2):
        patch = messages.campaign_patch(operation(f"op-{index}", "Same text"))
        doc = messages.with_message(doc, patch, has_apple=True, now=NOW + timedelta(seconds=index))
        again = messages.with_message(doc, patch, has_apple=True, now=NOW)
        assert again is doc  # a batch delivered twice records its message once
    kept = doc[messages.FIELD]
    assert [m["id"] for m in kept] == [f"op-{i}" for i in range(messages.KEPT + 1, 1, -1)]
    assert kept[0] == {
        "id": f"op-{messages.KEPT + 1}",
        "content": "Same text",
        "localizedContent": {"fr": "Bonjour"},
        "at": NOW + timedelta(seconds=messages.KEPT + 1),
        "alert": True,
        "kind": "transactional",  # the default kind of a message that names none
    }


def test_passes_without_apple_or_campaigns_without_message_keep_nothing() -> None:
    patch = messages.campaign_patch(operation("op"))
    assert messages.FIELD not in messages.with_message({}, patch, has_apple=False, now=NOW)
    assert messages.FIELD not in messages.with_message(
        {}, {"metadata": {}}, has_apple=True, now=NOW
    )


def test_changes_store_the_list_only_when_it_changed() -> None:
    patch = messages.campaign_patch(operation("op"))
    before: dict[str, Any] = {"_id": "p"}
    after = messages.with_message(before, patch, has_apple=True, now=NOW)
    assert messages.changes(before, after) == {messages.FIELD: after[messages.FIELD]}
    assert messages.changes(after, after) == {}


def test_alerted_by_names_the_campaign_whose_message_is_newest() -> None:
    doc = messages.with_message(
        {}, messages.campaign_patch(operation("op")), has_apple=True, now=NOW
    )
    assert messages.alerted_by(doc, "op")
    assert not messages.alerted_by(doc, "other")
    assert not messages.alerted_by(doc, None)
    silent = {messages.FIELD: [{**doc[messages.FIELD][0], "alert": False}]}
    assert not messages.alerted_by(silent, "op")


def test_the_decision_makes_a_message_silent_or_holds_it_back() -> None:
    patch = messages.campaign_patch(operation("op", message_kind="marketing"))
    silent = messages.with_message({}, patch, has_apple=True, now=NOW, alert=False)
    assert silent[messages.FIELD][0]["alert"] is False
    assert not messages.alerted_by(silent, "op")
    held = messages.with_message({}, patch, has_apple=True, now=NOW, alert=None)
    assert messages.FIELD not in held  # deferred: recorded when quiet hours end
    assert not messages.recorded(held, "op")
    assert messages.recorded(silent, "op")
