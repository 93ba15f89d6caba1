"""The infrastructure errors a retry can fix: Redis or MongoDB unreachable for a while (a
restart, a fail-over, a network cut). Anything else is a bug or bad data, and retrying it
only delays the reason."""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnly
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.infra.db import DatabaseUnavailable

# DatabaseUnavailable is pymongo's ConnectionFailure, which its AutoReconnect,
# ServerSelectionTimeoutError and NetworkTimeout all are; kombu raises OperationalError when
# publishing to a broker it cannot reach. READONLY: a write reached a master demoted to replica
# by a fail-over (a Sentinel client reconnects to the new master on its own).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    RedisConnectionError,
    RedisTimeoutError,
    RedisReadOnly,
    BrokerUnavailable,
)
