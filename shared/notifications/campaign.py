"""A campaign batch's notification decisions: one per pass, made once, spent once.

The batch asks, per pass, whether to record its message on the Apple pass alerting, silently
or not yet (`apple_alert`), and whether to add it to the Google object, notifying or not
(`google`). The decision is policy.decide; with `spend` (the real run) the budgets are then
consumed, without (a dry run) they are only read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from shared.notifications import budgets
from shared.notifications.config import NotificationPolicy
from shared.notifications.counting import NotificationCounts
from shared.notifications.policy import BudgetState, Decision, Notice, decide, notice_of


@dataclass
class CampaignNotifications:
    client: redis.Redis
    policy: NotificationPolicy
    notice: Notice
    message_id: str
    now: datetime
    spend: bool = True
    decisions: dict[str, Decision] = field(default_factory=dict)
    documents: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    counts: NotificationCounts = field(default_factory=NotificationCounts)
    budget_states: dict[str, BudgetState] = field(default_factory=dict)

    def read_budgets(self, documents: Iterable[Mapping[str, Any]]) -> None:
        """Read the budgets of a batch's passes in one round trip (spends nothing)."""
        todo = [d for d in documents if d["_id"] not in self.budget_states]
        states = budgets.peek_many(self.client, todo, self.now, self.message_id)
        self.budget_states.update((d["_id"], state) for d, state in zip(todo, states, strict=True))

    def decision(self, document: Mapping[str, Any]) -> Decision:
        """This pass's decision, made the first time it is asked for (a pass re-read after a
        write conflict keeps it: its budget is spent once)."""
        pass_id = document["_id"]
        if pass_id not in self.decisions:
            state = self.budget_states.get(pass_id) or budgets.peek(
                self.client, document, self.now, self.message_id
            )
            made = decide(document, self.notice, self.policy, self.now, state)
            if self.spend:
                made = budgets.consume(
                    self.client,
                    document,
                    made,
                    self.policy,
                    message_id=self.message_id,
                    now=self.now,
                )
            self.decisions[pass_id], self.documents[pass_id] = made, document
            self.counts.add(document, made)
        return self.decisions[pass_id]

    def apple_alert(self, document: Mapping[str, Any]) -> bool | None:
        """Record the message alerting (True), silently (False) or not yet (None: deferred)."""
        made = self.decision(document)
        return None if made.deferred else made.alert_apple

    def google(self, document: Mapping[str, Any]) -> tuple[bool, bool]:
        """(add the message now, with a notification)."""
        made = self.decision(document)
        return not made.deferred, made.alert_google

    def held(self) -> list[tuple[Mapping[str, Any], Decision]]:
        """The passes whose alerts wait for the end of quiet hours."""
        return [
            (self.documents[pass_id], made)
            for pass_id, made in self.decisions.items()
            if made.deferred
        ]


def for_campaign(
    client: redis.Redis,
    policy: NotificationPolicy,
    operation: Mapping[str, Any],
    now: datetime,
    *,
    spend: bool = True,
) -> CampaignNotifications | None:
    """The decisions of a campaign with a message; None for one without."""
    if operation.get("message") is None:
        return None
    return CampaignNotifications(
        client, policy, notice_of(operation), str(operation["_id"]), now, spend=spend
    )


def apple_alert(notes: CampaignNotifications | None, document: Mapping[str, Any]) -> bool | None:
    return True if notes is None else notes.apple_alert(document)
