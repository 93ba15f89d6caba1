"""Alert budgets in Redis, shared by every worker and exact under concurrency.

Apple: lock-screen alerts per pass per rolling 24 h (the tenant's policy); Google: notifying
messages per object per rolling 24 h (Google's limit, 3). Each budget is a sorted set of the
messages that alerted, scored by when: `peek` counts them (a dry run reads, never spends) and
`consume` spends one per wallet with a Lua script, check and record in one atomic step, so two
workers racing for a pass's last alert cannot both win.

The member is the message id: a batch delivered twice spends once for its message. Time is
the caller's clock (`now`), so a test can run a day in a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import redis

from shared.notifications.config import GOOGLE_ALERTS_PER_DAY, NotificationPolicy
from shared.notifications.policy import BudgetState, Decision, has_apple, has_google, held_back

PERIOD_MS = 24 * 3600 * 1000
APPLE_KEY = "passwire:apple:notify:"
GOOGLE_KEY = "passwire:google:notify:"  # the key Google's budget always had

# 1 when `member` may alert (recorded now, or already recorded: a redelivery), else 0.
_SPEND = """
local now_ms = tonumber(ARGV[1])
local period_ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - period_ms)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], period_ms)
  return 1
end
return 0
"""


def apple_key(document: Mapping[str, Any]) -> str:
    return f"{APPLE_KEY}{document['tenant']}:{document['_id']}"


def google_key(document: Mapping[str, Any]) -> str:
    return f"{GOOGLE_KEY}{document['google']['objectId']}"


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def peek(
    client: redis.Redis, document: Mapping[str, Any], now: datetime, message_id: str = ""
) -> BudgetState:
    """The alerts the pass spent in the 24 h before `now`, not counting `message_id`'s own (a
    redelivered batch decides as the first delivery did); reads only."""
    return peek_many(client, [document], now, message_id)[0]


def peek_many(
    client: redis.Redis, documents: Sequence[Mapping[str, Any]], now: datetime, message_id: str
) -> list[BudgetState]:
    """`peek` for many passes in one round trip."""
    since = f"({_ms(now) - PERIOD_MS}"
    pipe = client.pipeline(transaction=False)
    for document in documents:
        for key, has in ((apple_key, has_apple), (google_key, has_google)):
            if has(document):
                pipe.zcount(key(document), since, "+inf")
                pipe.zscore(key(document), message_id)
    replies = iter(pipe.execute())

    def spent(has: bool) -> int:
        if not has:
            return 0
        count, own = next(replies), next(replies)
        return int(count) - int(own is not None and own > _ms(now) - PERIOD_MS)

    states = []
    for document in documents:
        apple = spent(has_apple(document))
        states.append(BudgetState(apple_spent=apple, google_spent=spent(has_google(document))))
    return states


def _spend(client: redis.Redis, key: str, limit: int, message_id: str, now: datetime) -> bool:
    script = client.register_script(_SPEND)
    return bool(int(script(keys=[key], args=[_ms(now), PERIOD_MS, limit, message_id])))


def consume(
    client: redis.Redis,
    document: Mapping[str, Any],
    decision: Decision,
    policy: NotificationPolicy,
    *,
    message_id: str,
    now: datetime,
) -> Decision:
    """Spend the alerts `decision` grants; a wallet whose budget another worker spent first
    goes silent (reason `budget`). The decision to act on."""
    apple = decision.alert_apple and _spend(
        client, apple_key(document), policy.apple_limit(document["passType"]), message_id, now
    )
    google = decision.alert_google and _spend(
        client, google_key(document), GOOGLE_ALERTS_PER_DAY, message_id, now
    )
    return held_back(decision, apple=apple, google=google)


def refund_google(client: redis.Redis, document: Mapping[str, Any], message_id: str) -> None:
    """The notifying message never reached Google: its alert is not spent."""
    client.zrem(google_key(document), message_id)
